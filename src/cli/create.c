/* `hearth create NAME -f Modelfile [-q TYPE] [--ollama]`: makes a model from a Modelfile, on
 * this machine (no server needed: the presets file and Ollama's store are plain files that a
 * running server reads on every lookup). */
#include "store/create.h"
#include "base/log.h"
#include "base/util.h"
#include "cli/cli.h"
#include "store/modelfile.h"
#include "store/preset.h"

#include <errno.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static void create_usage(void)
{
    printf("Usage: hearth create NAME [-f Modelfile] [-q TYPE] [--ollama] [--models-dir DIR]\n"
           "                          [--models-preset FILE]\n"
           "\n"
           "Creates the model NAME from a Modelfile (Ollama's format: FROM, PARAMETER, TEMPLATE,\n"
           "SYSTEM, ADAPTER, LICENSE, MESSAGE, REQUIRES). The model is written as a section\n"
           "[NAME:TAG] of the presets file ($XDG_CONFIG_HOME/hearth/presets.ini, else\n"
           "~/.config/hearth/presets.ini), which `hearth serve` reads.\n"
           "\n"
           "Flags:\n"
           "  -f, --file FILE        the Modelfile (default ./Modelfile); FROM and ADAPTER paths\n"
           "                         are relative to its folder\n"
           "  -q, --quantize TYPE    quantize the FROM model (an F32, F16, BF16 or Q8_0 GGUF)\n"
           "                         to TYPE: Q4_K_M, Q4_K_S, Q5_K_M, Q6_K, Q8_0, Q4_0...; the\n"
           "                         result goes to the models folder beside the presets file,\n"
           "                         or into Ollama's store with --ollama\n"
           "      --ollama           write the model into Ollama's store ($OLLAMA_MODELS, else\n"
           "                         ~/.ollama/models) instead, so Ollama lists and runs it too;\n"
           "                         only a Jinja TEMPLATE stays in the presets file\n"
           "      --models-dir DIR   a folder of .gguf files where FROM NAME is looked up,\n"
           "                         repeatable [HEARTH_MODELS_DIR, ':'-separated]\n"
           "      --models-preset FILE\n"
           "                         the presets file to write, instead of the default\n"
           "                         above [HEARTH_MODELS_PRESET]\n"
           "  -h, --help             print this help\n");
}

struct bar {
    int tty;
    char last[160];
    int last_pct;
};

static void on_progress(void *ctx, const char *status, int64_t total, int64_t done)
{
    struct bar *b = ctx;
    int pct = total > 0 ? (int)(done * 100 / total) : -1;
    int same = !strcmp(status, b->last);
    if (same && pct == b->last_pct)
        return;
    if (!b->tty) {
        /* Not a terminal: one line per step, and its end. */
        if (!same || (pct == 100 && b->last_pct != 100))
            printf("%s%s\n", status, pct == 100 ? " 100%" : "");
        fflush(stdout);
    } else {
        if (!same && b->last[0])
            fputc('\n', stdout);
        if (pct >= 0) {
            char bar[31];
            int fill = pct * 30 / 100;
            for (int i = 0; i < 30; i++)
                bar[i] = i < fill ? '#' : ' ';
            bar[30] = '\0';
            printf("\r%s %3d%% [%s]", status, pct, bar);
        } else {
            printf("\r%s", status);
        }
        fflush(stdout);
    }
    snprintf(b->last, sizeof b->last, "%s", status);
    b->last_pct = pct;
}

static char *read_modelfile(const char *path, size_t *len)
{
    struct stat st;
    if (stat(path, &st) != 0) {
        cli_error("cannot read %s: %s", path, strerror(errno));
        return NULL;
    }
    if (!S_ISREG(st.st_mode)) {
        cli_error("%s is not a regular file", path);
        return NULL;
    }
    if (st.st_size > (off_t)MODELFILE_MAX_SIZE) {
        cli_error("%s is larger than %u bytes", path, MODELFILE_MAX_SIZE);
        return NULL;
    }
    FILE *f = fopen(path, "rb");
    if (!f) {
        cli_error("cannot read %s: %s", path, strerror(errno));
        return NULL;
    }
    char *text = xmalloc((size_t)st.st_size + 1);
    *len = fread(text, 1, (size_t)st.st_size, f);
    text[*len] = '\0';
    fclose(f);
    return text;
}

int cmd_create(int argc, char **argv)
{
    const char *name = NULL, *file = "Modelfile", *quant = NULL, *presets_arg = NULL;
    int ollama = 0, n_dirs = 0, status = 1;
    char **dirs = xcalloc((size_t)argc + 64, sizeof(char *));
    char *env_dirs = NULL, *text = NULL;
    struct store *s = NULL;
    struct modelfile mf = {0};
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!a)
            break;
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            create_usage();
            status = 0;
            goto out;
        } else if ((!strcmp(a, "-f") || !strcmp(a, "--file")) && v) {
            file = v;
            i++;
        } else if ((!strcmp(a, "-q") || !strcmp(a, "--quantize")) && v) {
            quant = v;
            i++;
        } else if (!strcmp(a, "--models-dir") && v) {
            dirs[n_dirs++] = (char *)v;
            i++;
        } else if (!strcmp(a, "--models-preset") && v) {
            presets_arg = v;
            i++;
        } else if (!strcmp(a, "--ollama")) {
            ollama = 1;
        } else if (!strcmp(a, "-f") || !strcmp(a, "--file") || !strcmp(a, "-q") ||
                   !strcmp(a, "--quantize") || !strcmp(a, "--models-dir") ||
                   !strcmp(a, "--models-preset")) {
            cli_error("%s needs a value", a);
            status = 2;
            goto out;
        } else if (a[0] == '-') {
            cli_error("unknown flag '%s' (see hearth create --help)", a);
            status = 2;
            goto out;
        } else if (!name) {
            name = a;
        } else {
            cli_error("create takes one model name (see hearth create --help)");
            status = 2;
            goto out;
        }
    }
    if (!name) {
        cli_error("create needs a model name (see hearth create --help)");
        status = 2;
        goto out;
    }
    if (n_dirs == 0)
        env_dirs = cli_env_dirs(dirs, &n_dirs, 64);
    /* Progress goes to stdout; the log only says what went wrong. */
    if (!getenv("HEARTH_LOG_LEVEL"))
        log_set_level(LOG_LEVEL_WARN);
    size_t len = 0;
    text = read_modelfile(file, &len);
    if (!text)
        goto out;
    struct err e = {0};
    if (modelfile_parse(text, len, &mf, &e)) {
        cli_error("%s: %s", file, e.msg);
        goto out;
    }
    char dir[4096];
    snprintf(dir, sizeof dir, "%s", file);
    char *base_dir = dirname(dir);
    struct bar bar = {.tty = isatty(1), .last_pct = -2};
    char presets[4096];
    cli_presets_path(presets_arg, presets, sizeof presets);
    struct store_config cfg = {.dirs = dirs, .n_dirs = n_dirs, .presets = presets};
    s = store_init(&cfg);
    char exe[4096];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    exe[n > 0 ? n : 0] = '\0';
    struct create_opts o = {
        .name = name,
        .quantize = quant,
        .ollama = ollama,
        .allow_paths = 1,
        .base_dir = base_dir,
        .exe = n > 0 ? exe : NULL,
        .progress = on_progress,
        .progress_ctx = &bar,
    };
    int rc = create_model(s, &mf, &o, &e);
    if (bar.tty && bar.last[0])
        fputc('\n', stdout);
    if (rc) {
        cli_error("%s", e.msg);
        goto out;
    }
    if (ollama)
        printf("success: created %s in Ollama's store %s\n", name, store_ollama_root(s));
    else
        printf("success: created %s in %s\n", name, presets);
    status = 0;
out:
    modelfile_free(&mf);
    store_free(s);
    free(text);
    free(env_dirs);
    free(dirs);
    return status;
}
