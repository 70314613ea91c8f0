/* `hearth completion bash|zsh`: shell completion scripts made from the command table
 * (cli_commands), for `run` the parameter table and for `serve` and `config` the settings table,
 * so they list what the binary accepts.
 * Model names complete from `hearth list` when a server answers. */
#include "cli/cli.h"
#include "cli/serve_settings.h"
#include "engine/params.h"

#include <stdio.h>
#include <string.h>

/* The flags of command c, space-separated, into out. */
static void flags_of(const struct cli_command *c, char *out, size_t len)
{
    if (c->flags) {
        snprintf(out, len, "%s", c->flags);
        return;
    }
    if (!strcmp(c->name, "serve") || !strcmp(c->name, "config")) {
        int o = !strcmp(c->name, "config") ? snprintf(out, len, "--json ") : 0;
        serve_settings_flags(out + o, len - (size_t)o);
        return;
    }
    /* run: its own flags, then one per parameter, as run.c parses them. */
    size_t o = (size_t)snprintf(
        out, len, "--verbose --help --special --no-bos --grammar-file --ctx --format");
    int n;
    const struct param_desc *t = params_table(&n);
    for (int i = 0; i < n && o < len; i++) {
        char name[64];
        snprintf(name, sizeof name, "%s", t[i].name);
        for (char *p = name; *p; p++)
            if (*p == '_')
                *p = '-';
        o += (size_t)snprintf(out + o, len - o, " --%s", name);
        if (t[i].alias && o < len)
            o += (size_t)snprintf(out + o, len - o, " --%s", t[i].alias);
        if (t[i].type == PARAM_BOOL && o < len)
            o += (size_t)snprintf(out + o, len - o, " --no-%s", name);
    }
}

/* Commands whose first argument is a model name. */
static int takes_model(const char *name)
{
    static const char *const m[] = {"run", "show", "rm", "cp", "stop", "pull"};
    for (size_t i = 0; i < sizeof m / sizeof m[0]; i++)
        if (!strcmp(name, m[i]))
            return 1;
    return 0;
}

static void bash(void)
{
    char flags[8192];
    printf("# bash completion for hearth (made by `hearth completion bash`)\n"
           "# Install: hearth completion bash > /etc/bash_completion.d/hearth\n"
           "#      or: source <(hearth completion bash)   in ~/.bashrc\n"
           "_hearth_models() {\n"
           "    hearth list 2>/dev/null | awk 'NR > 1 {print $1}'\n"
           "}\n"
           "_hearth() {\n"
           "    local cur=\"${COMP_WORDS[COMP_CWORD]}\" cmd=\"${COMP_WORDS[1]}\"\n"
           "    if [ \"$COMP_CWORD\" -eq 1 ]; then\n"
           "        COMPREPLY=($(compgen -W \"");
    for (size_t i = 0; i < cli_n_commands; i++)
        printf("%s%s", i ? " " : "", cli_commands[i].name);
    printf("\" -- \"$cur\"))\n"
           "        return\n"
           "    fi\n"
           "    case \"$cmd\" in\n");
    for (size_t i = 0; i < cli_n_commands; i++) {
        const struct cli_command *c = &cli_commands[i];
        flags_of(c, flags, sizeof flags);
        printf("    %s)\n", c->name);
        printf(
            "        if [[ \"$cur\" == -* ]]; then COMPREPLY=($(compgen -W \"%s\" -- \"$cur\"))\n",
            flags);
        if (takes_model(c->name))
            printf("        else COMPREPLY=($(compgen -W \"$(_hearth_models)\" -- \"$cur\") "
                   "$(compgen -f -X '!*.gguf' -- \"$cur\"))\n");
        else if (!strcmp(c->name, "completion"))
            printf("        else COMPREPLY=($(compgen -W \"bash zsh\" -- \"$cur\"))\n");
        else
            printf("        else COMPREPLY=($(compgen -f -- \"$cur\"))\n");
        printf("        fi ;;\n");
    }
    printf("    esac\n"
           "}\n"
           "complete -F _hearth hearth\n");
}

static void zsh(void)
{
    char flags[8192];
    printf("#compdef hearth\n"
           "# zsh completion for hearth (made by `hearth completion zsh`)\n"
           "# Install: hearth completion zsh > \"${fpath[1]}/_hearth\", then restart zsh\n"
           "_hearth() {\n"
           "    local -a commands\n"
           "    commands=(\n");
    for (size_t i = 0; i < cli_n_commands; i++) {
        /* 'name:help' with the help's quotes and colons made harmless */
        printf("        '%s:", cli_commands[i].name);
        for (const char *p = cli_commands[i].help; *p; p++)
            putchar(*p == '\'' ? '"' : *p == ':' ? ' ' : *p);
        printf("'\n");
    }
    printf("    )\n"
           "    if (( CURRENT == 2 )); then\n"
           "        _describe 'command' commands\n"
           "        return\n"
           "    fi\n"
           "    case $words[2] in\n");
    for (size_t i = 0; i < cli_n_commands; i++) {
        const struct cli_command *c = &cli_commands[i];
        flags_of(c, flags, sizeof flags);
        printf("    %s)\n", c->name);
        printf("        if [[ $PREFIX == -* ]]; then compadd -- %s\n", flags);
        if (takes_model(c->name))
            printf("        else compadd -- ${(f)\"$(hearth list 2>/dev/null | awk 'NR > 1 "
                   "{print $1}')\"}; _files -g '*.gguf'\n");
        else if (!strcmp(c->name, "completion"))
            printf("        else compadd -- bash zsh\n");
        else
            printf("        else _files\n");
        printf("        fi ;;\n");
    }
    printf("    esac\n"
           "}\n"
           "_hearth \"$@\"\n");
}

int cmd_completion(int argc, char **argv)
{
    if (argc == 1 && !strcmp(argv[0], "bash")) {
        bash();
        return 0;
    }
    if (argc == 1 && !strcmp(argv[0], "zsh")) {
        zsh();
        return 0;
    }
    if (argc == 1 && (!strcmp(argv[0], "-h") || !strcmp(argv[0], "--help"))) {
        printf("Usage: hearth completion bash|zsh\n\n"
               "Prints a completion script for the shell: commands, each command's flags (run's\n"
               "from the parameter table, serve's and config's from the settings table), and\n"
               "model names from `hearth list` when a server answers.\n"
               "  bash: hearth completion bash > /etc/bash_completion.d/hearth\n"
               "        (or `source <(hearth completion bash)` in ~/.bashrc)\n"
               "  zsh:  hearth completion zsh > \"${fpath[1]}/_hearth\"\n");
        return 0;
    }
    cli_error("usage: hearth completion bash|zsh");
    return 2;
}
