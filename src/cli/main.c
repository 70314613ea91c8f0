#include "base/log.h"
#include "cli/cli.h"
#include "engine/engine.h"
#include "engine/quantize.h"

#include <ggml-backend.h>
#include <llama.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#ifndef HEARTH_VERSION
#define HEARTH_VERSION "0.0.0-dev"
#endif

static void usage(FILE *out)
{
    fprintf(out,
            "hearth %s: run language models on your own machine\n"
            "\n"
            "Usage: hearth COMMAND [ARGS]\n"
            "\n"
            "Commands:\n"
            "  serve                     serve the Ollama API on 127.0.0.1:11434\n"
            "  run MODEL [PROMPT]        generate text: MODEL is a .gguf path (run directly)\n"
            "                            or a model name (run through the server)\n"
            "  list, ls                  list the server's models\n"
            "  ps                        list the loaded models\n"
            "  show MODEL                show a model's details (--modelfile, --template, -v...)\n"
            "  pull MODEL                download a model from Hugging Face or an Ollama registry\n"
            "  rm MODEL...               delete models\n"
            "  cp SOURCE DESTINATION     give a model another name\n"
            "  create NAME -f Modelfile  create a model from a Modelfile (-q TYPE quantizes)\n"
            "  stop MODEL                unload a model\n"
            "  version                   print hearth's and libllama's versions and backends\n"
            "  help                      print this help\n"
            "\n"
            "`hearth COMMAND --help` describes each command.\n",
            HEARTH_VERSION);
}

void cli_error(const char *fmt, ...)
{
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    fprintf(stderr, "hearth: error: %s\n", msg);
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
    printf("hearth %s\n", HEARTH_VERSION);
    printf("libllama %s\n", llama_version());
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
    if (argc < 2) {
        usage(stdout);
        return 0;
    }
    const char *cmd = argv[1];
    if (!strcmp(cmd, "run"))
        return cmd_run(argc - 2, argv + 2);
    static const struct {
        const char *name;
        int (*fn)(int, char **);
    } cmds[] = {
        {"serve", cmd_serve}, {"list", cmd_list},     {"ls", cmd_list}, {"ps", cmd_ps},
        {"show", cmd_show},   {"rm", cmd_rm},         {"cp", cmd_cp},   {"stop", cmd_stop},
        {"pull", cmd_pull},   {"create", cmd_create},
    };
    for (size_t i = 0; i < sizeof cmds / sizeof cmds[0]; i++)
        if (!strcmp(cmd, cmds[i].name))
            return cmds[i].fn(argc - 2, argv + 2);
    if (!strcmp(cmd, "worker"))
        return worker_main(argc - 2, argv + 2);
    if (!strcmp(cmd, "quantize")) /* the child of create -q */
        return quantize_main(argc - 2, argv + 2);
    if (!strcmp(cmd, "version") || !strcmp(cmd, "--version"))
        return cmd_version(argc - 2, argv + 2);
    if (!strcmp(cmd, "help") || !strcmp(cmd, "--help") || !strcmp(cmd, "-h")) {
        usage(stdout);
        return 0;
    }
    cli_error("unknown command '%s' (see hearth --help)", cmd);
    return 2;
}
