/* The CLI's text output shared by every command: one-line errors and wrapped help. They live
 * outside main.c so that the library (and its unit tests) has them. */
#include "base/util.h"
#include "cli/cli.h"
#include "store/preset.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void cli_wrap(FILE *out, const char *head, int indent, const char *text)
{
    int col = *head ? fprintf(out, "  %s", head) : 0;
    if (*head && col >= indent) {
        fputc('\n', out);
        col = 0;
    }
    fprintf(out, "%*s", indent - col, "");
    col = indent;
    const char *p = text;
    while (*p) {
        size_t w = strcspn(p, " ");
        if (col > indent && col + 1 + (int)w > 100) {
            fprintf(out, "\n%*s", indent, "");
            col = indent;
        } else if (col > indent) {
            fputc(' ', out);
            col++;
        }
        fprintf(out, "%.*s", (int)w, p);
        col += (int)w;
        p += w;
        while (*p == ' ')
            p++;
    }
    fputc('\n', out);
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

char *cli_env_dirs(char **dirs, int *n_dirs, int max)
{
    const char *v = getenv("HEARTH_MODELS_DIR");
    if (!v)
        return NULL;
    char *copy = xstrdup(v);
    char *save = NULL;
    for (char *d = strtok_r(copy, ":", &save); d && *n_dirs < max; d = strtok_r(NULL, ":", &save))
        dirs[(*n_dirs)++] = d;
    return copy;
}

void cli_presets_path(const char *arg, char *out, size_t len)
{
    if (!arg)
        arg = getenv("HEARTH_MODELS_PRESET");
    if (arg && *arg)
        snprintf(out, len, "%s", arg);
    else
        preset_default_path(out, len);
}
