#include "base/log.h"
#include "cli/cli.h"
#include "engine/engine.h"

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
            "  run MODEL.gguf [PROMPT]   generate text from a GGUF model file\n"
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
    if (!strcmp(cmd, "serve"))
        return cmd_serve(argc - 2, argv + 2);
    if (!strcmp(cmd, "worker"))
        return worker_main(argc - 2, argv + 2);
    if (!strcmp(cmd, "version") || !strcmp(cmd, "--version"))
        return cmd_version(argc - 2, argv + 2);
    if (!strcmp(cmd, "help") || !strcmp(cmd, "--help") || !strcmp(cmd, "-h")) {
        usage(stdout);
        return 0;
    }
    cli_error("unknown command '%s' (see hearth --help)", cmd);
    return 2;
}
