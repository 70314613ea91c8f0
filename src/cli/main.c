#include "base/log.h"
#include "cli/cli.h"
#include "engine/engine.h"
#include "engine/offload.h"
#include "engine/quantize.h"

#include <ggml-backend.h>
#include <llama.h>
#include <stdio.h>
#include <string.h>

#ifndef HEARTH_VERSION
#define HEARTH_VERSION "0.0.0-dev"
#endif

/* Every command: name, arguments, one line of help, the flags shell completion offers, and
 * whether the command prints its own --help (the others get one made from this table). */
const struct cli_command cli_commands[] = {
    {"serve", cmd_serve, "[flags]", "serve the Ollama, OpenAI, Anthropic and llama-server APIs",
     NULL, 1},
    {"config", cmd_config, "[--json] [serve's flags]",
     "print the settings serve would run with and where each came from", NULL, 1},
    {"run", cmd_run, "MODEL [PROMPT]",
     "chat with a model, or answer PROMPT: MODEL is a .gguf path (run directly) or a model name "
     "(run through the server)",
     NULL, 1},
    {"list", cmd_list, "[--json]", "list the server's models", "--json --help", 0},
    {"ls", cmd_list, "[--json]", "the same as list", "--json --help", 0},
    {"ps", cmd_ps, "[--json]", "list the loaded models", "--json --help", 0},
    {"show", cmd_show, "MODEL [flags]",
     "show a model's details (--modelfile, --parameters, --template, --system, --license, -v)",
     "--modelfile --parameters --template --system --license --json --verbose --help", 1},
    {"pull", cmd_pull, "MODEL", "download a model from Hugging Face or an Ollama registry",
     "--insecure --help", 1},
    {"rm", cmd_rm, "MODEL...", "delete models", "--help", 0},
    {"cp", cmd_cp, "SOURCE DESTINATION", "give a model another name", "--help", 0},
    {"create", cmd_create, "NAME -f Modelfile",
     "create a model from a Modelfile (-q TYPE quantizes)",
     "--file --quantize --ollama --models-dir --models-preset --help", 1},
    {"stop", cmd_stop, "MODEL", "unload a model", "--help", 0},
    {"doctor", cmd_doctor, "", "check this machine: CPU, memory, GPUs, stores, registries",
     "--help", 1},
    {"bundle", cmd_bundle, "NAME -o FILE",
     "write one executable holding hearth and a model: ./FILE chats, answers or serves it",
     "--output --name --models-dir --models-preset --help", 1},
    {"completion", cmd_completion, "bash|zsh", "print a shell completion script", "--help", 1},
    {"version", cmd_version, "", "print hearth's and libllama's versions and backends", "--help",
     0},
    {"help", NULL, "", "print this help", "", 0},
};
const size_t cli_n_commands = sizeof cli_commands / sizeof cli_commands[0];

static void usage(FILE *out)
{
    fprintf(out,
            "hearth %s: run language models on your own machine\n"
            "\n"
            "Usage: hearth COMMAND [ARGS]\n"
            "\n"
            "Commands:\n",
            HEARTH_VERSION);
    for (size_t i = 0; i < cli_n_commands; i++) {
        char head[64];
        snprintf(head, sizeof head, "%s %s", cli_commands[i].name, cli_commands[i].args);
        cli_wrap(out, head, 28, cli_commands[i].help);
    }
    fprintf(out, "\n`hearth COMMAND --help` describes each command.\n");
}

int cmd_version(int argc, char **argv)
{
    (void)argv;
    if (argc > 0) {
        cli_error("version takes no arguments");
        return 2;
    }
    engine_init_logging();
    llama_backend_init();
    struct offload_gpu g[OFFLOAD_MAX_GPUS];
    offload_gpus(g, OFFLOAD_MAX_GPUS); /* loads the backend modules of a CUDA build */
    printf("hearth %s\n", HEARTH_VERSION);
    printf("libllama %s (%s)\n", llama_version(),
           llama_supports_gpu_offload() ? "GPU offload available" : "CPU only");
    printf("backends:");
    for (size_t i = 0; i < ggml_backend_dev_count(); i++) {
        ggml_backend_dev_t d = ggml_backend_dev_get(i);
        printf(" %s (%s)", ggml_backend_dev_name(d), ggml_backend_dev_description(d));
    }
    printf("\nsystem: %s\n", llama_print_system_info());
    llama_backend_free();
    return 0;
}

int main(int argc, char **argv)
{
    log_init();
    /* A worker of a bundle is this same file: it finds the model from the path it is sent. */
    if (argc >= 2 && !strcmp(argv[1], "worker"))
        return worker_main(argc - 2, argv + 2);
    int bundle_status;
    if (cli_bundle_main(argc, argv, &bundle_status))
        return bundle_status;
    if (argc < 2) {
        usage(stdout);
        return 0;
    }
    const char *cmd = argv[1];
    for (size_t i = 0; i < cli_n_commands; i++) {
        const struct cli_command *c = &cli_commands[i];
        if (strcmp(cmd, c->name) != 0 || !c->fn)
            continue;
        if (!c->own_help)
            for (int a = 2; a < argc; a++)
                if (!strcmp(argv[a], "-h") || !strcmp(argv[a], "--help")) {
                    printf("Usage: hearth %s%s%s\n\n", c->name, *c->args ? " " : "", c->args);
                    cli_wrap(stdout, "", 0, c->help);
                    return 0;
                }
        return c->fn(argc - 2, argv + 2);
    }
    if (!strcmp(cmd, "worker"))
        return worker_main(argc - 2, argv + 2);
    if (!strcmp(cmd, "quantize")) /* the child of create -q */
        return quantize_main(argc - 2, argv + 2);
    if (!strcmp(cmd, "--version"))
        return cmd_version(argc - 2, argv + 2);
    if (!strcmp(cmd, "help") || !strcmp(cmd, "--help") || !strcmp(cmd, "-h")) {
        usage(stdout);
        return 0;
    }
    cli_error("unknown command '%s' (see hearth --help)", cmd);
    return 2;
}
