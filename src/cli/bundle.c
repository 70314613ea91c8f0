/* `hearth bundle NAME -o FILE`: one executable holding hearth and a model (engine/bundle.h),
 * and what such an executable does when it runs: chat, answer a prompt, serve, describe itself.
 *
 * The bundle's preset is one section of preset.h's format, named after the model: the
 * parameters the model had where it was bundled (its [*], its own params layer and its
 * section, in that order of precedence), and what describes it (system prompt, template, tool
 * call format, license, messages). It has no `model` key: where the model is, the bundle says
 * at run time, by being where it is.
 */
#include "engine/bundle.h"
#include "base/buf.h"
#include "base/log.h"
#include "base/util.h"
#include "cli/cli.h"
#include "engine/mfile.h"
#include "store/preset.h"
#include "store/store.h"

#include <errno.h>
#include <ggml.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#ifndef HEARTH_VERSION
#define HEARTH_VERSION "0.0.0-dev"
#endif

static void bundle_usage(void)
{
    printf(
        "Usage: hearth bundle NAME -o FILE [--name NAME] [--models-dir DIR] [--models-preset "
        "FILE]\n"
        "\n"
        "Writes FILE: one executable holding this hearth and the model NAME (a .gguf path, a\n"
        "model name, or a preset's name, as `hearth serve` finds them), with its preset\n"
        "(parameters, system prompt, chat template). Copied to another machine of the same\n"
        "kind, `./FILE` chats in the terminal, `./FILE \"PROMPT\"` answers once, `./FILE serve`\n"
        "serves it on every API and the web UI, and `./FILE --help` says what it holds.\n"
        "\n"
        "The executable is this hearth: built with `make static` (build-static/hearth) it needs\n"
        "nothing installed where it runs; any other build warns that the bundle needs\n"
        "libllama and hearth's libraries there too.\n"
        "\n"
        "Flags:\n"
        "  -o, --output FILE      the bundle to write (replaced when it exists)\n"
        "      --name NAME        the model's name inside the bundle (default: NAME, or the\n"
        "                         file's name without .gguf for a path)\n"
        "      --models-dir DIR   a folder of .gguf files where NAME is looked up, repeatable\n"
        "                         [HEARTH_MODELS_DIR, ':'-separated]\n"
        "      --models-preset FILE\n"
        "                         the presets file NAME's settings come from "
        "[HEARTH_MODELS_PRESET;\n"
        "                         default $XDG_CONFIG_HOME/hearth/presets.ini]\n"
        "  -h, --help             print this help\n");
}

/* ---- composing the preset ---- */

/* Adds one layer of "key=value" settings: a key the layer sets replaces every earlier value
 * of it (a list such as stop is replaced whole, as settings.c layers them). Keys that are not
 * parameters are skipped: the store has already made them part of the model. */
static void add_layer(struct strlist *acc, const char *const *kv, int n)
{
    struct strlist next = {0};
    for (int i = 0; i < acc->n; i++) {
        const char *eq = strchr(acc->v[i], '=');
        size_t kl = eq ? (size_t)(eq - acc->v[i]) : 0;
        int replaced = 0;
        for (int j = 0; j < n && !replaced; j++)
            replaced = !strncmp(kv[j], acc->v[i], kl) && kv[j][kl] == '=';
        if (!replaced)
            strlist_add(&next, acc->v[i]);
    }
    for (int j = 0; j < n; j++)
        strlist_add(&next, kv[j]);
    strlist_free(acc);
    *acc = next;
}

/* The generation and load parameters of a preset section, as KEY=VALUE lines. */
static void section_params(const struct preset_set *p, const char *section, struct strlist *out)
{
    int n;
    const struct preset_kv *kv = preset_entries(p, section, &n);
    for (int i = 0; i < n; i++) {
        if (!params_find(kv[i].key))
            continue;
        struct buf b;
        buf_init(&b, 0);
        buf_printf(&b, "%s=%s", kv[i].key, kv[i].value);
        strlist_add(out, b.data);
        buf_free(&b);
    }
}

static void add_section(struct strlist *acc, const struct preset_set *p, const char *section)
{
    struct strlist layer = {0};
    section_params(p, section, &layer);
    add_layer(acc, (const char *const *)layer.v, layer.n);
    strlist_free(&layer);
}

static int compose_preset(const struct store *s, const struct store_model *m, const char *name,
                          struct buf *out, struct err *e)
{
    struct strlist kv = {0};
    struct preset_set *p = store_presets(s);
    add_section(&kv, p, "*");
    struct strlist own = {0};
    for (int i = 0; i < m->params.n; i++)
        if (strchr(m->params.v[i], '='))
            strlist_add(&own, m->params.v[i]);
    add_layer(&kv, (const char *const *)own.v, own.n);
    strlist_free(&own);
    add_section(&kv, p, m->name);
    preset_release(p);

    struct strlist all = {0};
    const struct {
        const char *key, *value;
    } desc[] = {
        {"system", m->system},
        {m->template_is_go ? "ollama-template" : "chat-template", m->template_text},
        {"tool-call-format", m->tool_format},
        {"license", m->license},
        {"messages", m->messages_json},
    };
    for (size_t i = 0; i < ARRAY_LEN(desc); i++) {
        if (!desc[i].value)
            continue;
        struct buf b;
        buf_init(&b, 0);
        buf_printf(&b, "%s=%s", desc[i].key, desc[i].value);
        strlist_add(&all, b.data);
        buf_free(&b);
    }
    for (int i = 0; i < kv.n; i++)
        strlist_add(&all, kv.v[i]);
    strlist_free(&kv);
    buf_printf(out, "; hearth bundle: the preset of the model inside (hearth %s)\n",
               HEARTH_VERSION);
    int rc = preset_format_section(out, name, &all, e);
    strlist_free(&all);
    if (rc)
        return rc;
    /* What is written must read back (a value the parser would refuse fails here, not at the
     * bundle's first start). */
    struct preset_set *check;
    rc = preset_parse("the bundle's preset", out->data, out->len, &check, e);
    preset_release(check);
    return rc;
}

/* The name inside the bundle: --name, the store's canonical name, or a path's file name. */
static void bundle_name(const struct store_model *m, const char *given, char *out, size_t len)
{
    if (given) {
        snprintf(out, len, "%s", given);
        return;
    }
    if (m->source != STORE_SRC_PATH) {
        snprintf(out, len, "%s", m->name);
        return;
    }
    const char *slash = strrchr(m->path, '/');
    const char *base = slash ? slash + 1 : m->path;
    size_t n = strlen(base);
    if (n > 5 && !strcasecmp(base + n - 5, ".gguf"))
        n -= 5;
    snprintf(out, len, "%.*s", (int)n, base);
}

static int same_inode(const char *a, const char *b)
{
    struct stat sa, sb;
    return stat(a, &sa) == 0 && stat(b, &sb) == 0 && sa.st_dev == sb.st_dev &&
           sa.st_ino == sb.st_ino;
}

struct bar {
    int tty;
    int last;
};

static void on_copy(void *ctx, uint64_t done, uint64_t total)
{
    struct bar *b = ctx;
    int pct = total ? (int)(done * 100 / total) : 100;
    if (!b->tty || pct == b->last)
        return;
    b->last = pct;
    fprintf(stderr, "\rwriting the model %3d%%", pct);
    if (done == total)
        fputc('\n', stderr);
}

int cmd_bundle(int argc, char **argv)
{
    const char *name = NULL, *out = NULL, *as = NULL, *presets_arg = NULL;
    int n_dirs = 0, status = 2;
    char **dirs = xcalloc((size_t)argc + 64, sizeof(char *));
    char *env_dirs = NULL;
    struct store *s = NULL;
    struct store_model m;
    memset(&m, 0, sizeof m);
    struct buf preset;
    buf_init(&preset, BUNDLE_MAX_PRESET);
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        int takes = !strcmp(a, "-o") || !strcmp(a, "--output") || !strcmp(a, "--name") ||
                    !strcmp(a, "--models-dir") || !strcmp(a, "--models-preset");
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            bundle_usage();
            status = 0;
            goto out;
        } else if (takes && !v) {
            cli_error("%s needs a value", a);
            goto out;
        } else if (takes) {
            if (a[1] == 'o' || !strcmp(a, "--output"))
                out = v;
            else if (!strcmp(a, "--name"))
                as = v;
            else if (!strcmp(a, "--models-dir"))
                dirs[n_dirs++] = (char *)v;
            else
                presets_arg = v;
            i++;
        } else if (a[0] == '-' && a[1]) {
            cli_error("unknown flag '%s' (see hearth bundle --help)", a);
            goto out;
        } else if (!name) {
            name = a;
        } else {
            cli_error("bundle takes one model (see hearth bundle --help)");
            goto out;
        }
    }
    if (!name || !out) {
        cli_error("usage: hearth bundle NAME -o FILE (see hearth bundle --help)");
        goto out;
    }
    status = 1;
    if (n_dirs == 0)
        env_dirs = cli_env_dirs(dirs, &n_dirs, 64);
    if (!getenv("HEARTH_LOG_LEVEL"))
        log_set_level(LOG_LEVEL_WARN);
    char presets[4096];
    cli_presets_path(presets_arg, presets, sizeof presets);
    struct store_config cfg = {.dirs = dirs, .n_dirs = n_dirs, .presets = presets};
    s = store_init(&cfg);
    struct err e = {0};
    if (store_find_local(s, name, &m, &e)) {
        cli_error("%s", e.msg);
        goto out;
    }
    struct stat st;
    if (stat(m.path, &st) == 0 && m.size > st.st_size) { /* the store counts every shard */
        cli_error("%s is split into several files; a bundle holds one GGUF (merge them with "
                  "llama-gguf-split --merge)",
                  m.name);
        goto out;
    }
    if (m.adapter) {
        cli_error("%s applies a LoRA adapter (%s); a bundle holds one GGUF (merge the adapter "
                  "into the model first)",
                  m.name, m.adapter);
        goto out;
    }
    if (m.mmproj)
        fprintf(stderr,
                "hearth: warning: the projector %s is not bundled: the bundle reads text only\n",
                m.mmproj);

    char exe[4096];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (n <= 0) {
        cli_error("cannot find this executable (/proc/self/exe): %s", strerror(errno));
        goto out;
    }
    exe[n] = '\0';
    if (stat(out, &st) == 0 && S_ISDIR(st.st_mode)) {
        cli_error("%s is a directory: -o names the bundle file to write", out);
        goto out;
    }
    if (same_inode(out, "/proc/self/exe")) {
        cli_error("%s is the hearth executable running now: write the bundle elsewhere", out);
        goto out;
    }
    if (same_inode(out, m.path)) {
        cli_error("%s is the model file itself: write the bundle elsewhere", out);
        goto out;
    }
    char inner[STORE_MAX_NAME + 16];
    bundle_name(&m, as, inner, sizeof inner);
    if (compose_preset(s, &m, inner, &preset, &e)) {
        cli_error("the preset of %s: %s", inner, e.msg);
        goto out;
    }
    struct bar bar = {.tty = isatty(STDERR_FILENO), .last = -1};
    struct bundle b;
    if (bundle_write(exe, m.path, preset.data, preset.len, out, on_copy, &bar, &b, &e)) {
        cli_error("%s", e.msg);
        goto out;
    }
    char hs[32], ms[32];
    cli_human_size((double)b.file_size, hs, sizeof hs);
    cli_human_size((double)b.gguf_size, ms, sizeof ms);
    printf("bundled %s (%s) into %s (%s)\nmodel sha256 %s\n", inner, ms, out, hs, b.weights_sha);
#ifndef HEARTH_STATIC
    fprintf(stderr,
            "hearth: warning: this hearth is not the static build (make static builds "
            "build-static/hearth): the bundle runs only where libllama and hearth's libraries "
            "are installed\n");
#endif
    status = 0;
out:
    buf_free(&preset);
    store_model_free(&m);
    store_free(s);
    free(env_dirs);
    free(dirs);
    return status;
}

/* ---- running a bundle ---- */

struct self {
    char path[4096];
    const char *prog; /* how the user called it, for help texts */
    int fd;
    struct bundle b;
    struct preset_set *preset;
    const char *name; /* the preset's section */
    char *text;       /* the preset's text */
};

static void describe(const struct self *me)
{
    struct mfile mf;
    char arch[64] = "?", quant[32] = "?", params[32] = "?", size[32];
    if (mfile_open(me->path, &mf, NULL) == 0) {
        char *a = mfile_get_str(&mf, "general.architecture");
        if (a)
            snprintf(arch, sizeof arch, "%s", a);
        free(a);
        snprintf(quant, sizeof quant, "%s", ggml_type_name((enum ggml_type)mf.main_type));
        double np = (double)mf.n_elements;
        if (np >= 1e9)
            snprintf(params, sizeof params, "%.1fB", np / 1e9);
        else if (np >= 1e6)
            snprintf(params, sizeof params, "%.1fM", np / 1e6);
        else
            snprintf(params, sizeof params, "%.1fK", np / 1e3);
        mfile_close(&mf);
    }
    cli_human_size((double)me->b.gguf_size, size, sizeof size);
    printf("%s: a hearth bundle (hearth %s) holding the model %s\n\n", me->prog, HEARTH_VERSION,
           me->name);
    printf("  %-12s %s: %s, %s parameters, %s, %s\n", "Model", me->name, arch, params, quant, size);
    int n;
    const struct preset_kv *kv = preset_entries(me->preset, me->name, &n);
    struct buf p;
    buf_init(&p, 0);
    for (int i = 0; i < n; i++)
        if (params_find(kv[i].key))
            buf_printf(&p, "%s%s=%s", p.len ? ", " : "", kv[i].key, kv[i].value);
    printf("  %-12s %s\n", "Parameters", p.len ? p.data : "hearth's defaults");
    buf_free(&p);
    const char *sys = preset_get(me->preset, me->name, "system");
    printf("  %-12s %.*s%s\n", "System", sys ? (int)strcspn(sys, "\n") : 4, sys ? sys : "none",
           sys && (strchr(sys, '\n') || strlen(sys) > 80) ? " ..." : "");
    const char *t = preset_get(me->preset, me->name, "chat-template") ? "the preset's (Jinja)"
                    : preset_get(me->preset, me->name, "ollama-template")
                        ? "the preset's (Ollama's Go template; used by serve)"
                        : "the model's own, if it has one";
    printf("  %-12s %s\n", "Template", t);
    printf("  %-12s %s\n\n", "SHA-256", me->b.weights_sha);
    const char *g = me->prog;
    printf("Usage:\n");
    char head[160];
    snprintf(head, sizeof head, "%s", g);
    cli_wrap(stdout, head, 30,
             "chat in the terminal (/? lists the chat's commands); a prompt piped to stdin is "
             "answered once");
    snprintf(head, sizeof head, "%s \"PROMPT\"", g);
    cli_wrap(stdout, head, 30,
             "answer PROMPT once (through the chat template when the model has one)");
    snprintf(head, sizeof head, "%s [FLAGS] [PROMPT]", g);
    cli_wrap(stdout, head, 30,
             "the same with hearth run's flags (--temperature 0, -n 100, --verbose...): "
             "--help-run lists them");
    snprintf(head, sizeof head, "%s serve [FLAGS]", g);
    cli_wrap(stdout, head, 30,
             "serve the model on the Ollama, OpenAI, Anthropic and llama-server APIs and the "
             "web UI, under the name above (127.0.0.1:11434 by default; serve --help lists the "
             "flags)");
    snprintf(head, sizeof head, "%s --verify", g);
    cli_wrap(stdout, head, 30,
             "check the SHA-256 of the weights (the header and preset are checked at every "
             "start)");
    snprintf(head, sizeof head, "%s --version", g);
    cli_wrap(stdout, head, 30, "print hearth's and libllama's versions");
}

/* The preset with the bundle's own path as its model (serve loads it at start: the default
 * model). */
static char *serve_presets(const struct self *me)
{
    int n;
    const struct preset_kv *kv = preset_entries(me->preset, me->name, &n);
    struct strlist all = {0};
    struct buf b;
    buf_init(&b, 0);
    buf_printf(&b, "model=%s", me->path);
    strlist_add(&all, b.data);
    for (int i = 0; i < n; i++) {
        if (!strcmp(kv[i].key, "model"))
            continue;
        b.len = 0;
        buf_printf(&b, "%s=%s", kv[i].key, kv[i].value);
        strlist_add(&all, b.data);
    }
    buf_free(&b);
    struct buf out;
    buf_init(&out, (size_t)BUNDLE_MAX_PRESET * 2);
    struct err e = {0};
    if (preset_format_section(&out, me->name, &all, &e)) {
        strlist_free(&all);
        buf_free(&out);
        return NULL;
    }
    strlist_free(&all);
    return buf_steal(&out);
}

static int run_it(const struct self *me, int argc, char **argv)
{
    struct run_preset rp = {.prog = me->prog, .name = me->name};
    section_params(me->preset, me->name, &rp.params);
    rp.system = preset_get(me->preset, me->name, "system");
    rp.tmpl = preset_get(me->preset, me->name, "chat-template");
    int status = cli_run_preset(me->path, &rp, argc, argv);
    strlist_free(&rp.params);
    return status;
}

int cli_bundle_main(int argc, char **argv, int *status)
{
    struct self me;
    memset(&me, 0, sizeof me);
    me.fd = -1;
    ssize_t n = readlink("/proc/self/exe", me.path, sizeof me.path - 1);
    if (n <= 0)
        return 0;
    me.path[n] = '\0';
    struct err e = {0};
    int rc = bundle_open(me.path, &me.fd, &me.b, &e);
    if (rc == 1 || rc == ERR_IO)
        return 0; /* plain hearth (or nothing we can read: hearth runs as itself) */
    *status = 1;
    if (rc) {
        cli_error("%s: %s", me.path, e.msg);
        return 1;
    }
    me.prog = argv[0];
    if (bundle_check_meta(me.fd, &me.b, &e) || bundle_read_preset(me.fd, &me.b, &me.text, &e) ||
        preset_parse("the bundle's preset", me.text, strlen(me.text), &me.preset, &e)) {
        cli_error("%s: %s", me.path, e.msg);
        goto out;
    }
    int n_sec;
    const char *const *secs = preset_sections(me.preset, &n_sec);
    if (n_sec != 1) {
        cli_error("%s: the bundle's preset has %d sections, not one", me.path, n_sec);
        goto out;
    }
    me.name = secs[0];
    const char *cmd = argc > 1 ? argv[1] : NULL;
    if (cmd && (!strcmp(cmd, "-h") || !strcmp(cmd, "--help") || !strcmp(cmd, "help"))) {
        describe(&me);
        *status = 0;
    } else if (cmd && !strcmp(cmd, "--help-run")) {
        cli_run_usage(me.prog);
        *status = 0;
    } else if (cmd && (!strcmp(cmd, "--version") || !strcmp(cmd, "version"))) {
        *status = cmd_version(argc - 2, argv + 2);
    } else if (cmd && !strcmp(cmd, "--verify")) {
        if (bundle_check_weights(me.fd, &me.b, &e)) {
            cli_error("%s: %s", me.path, e.msg);
        } else {
            printf("%s: the bundle is intact (model sha256 %s)\n", me.prog, me.b.weights_sha);
            *status = 0;
        }
    } else if (cmd && !strcmp(cmd, "serve")) {
        char *text = serve_presets(&me);
        if (!text) {
            cli_error("%s: the bundle's preset is too large to serve", me.path);
            goto out;
        }
        close(me.fd); /* the server runs for long; the workers open the file themselves */
        me.fd = -1;
        *status = cli_serve_main(argc - 2, argv + 2, text, me.name);
        free(text);
    } else {
        close(me.fd);
        me.fd = -1;
        *status = run_it(&me, argc - 1, argv + 1);
    }
out:
    if (me.fd >= 0)
        close(me.fd);
    preset_release(me.preset);
    free(me.text);
    return 1;
}
