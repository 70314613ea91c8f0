/* Presets files: parsing (every value checked against the params table's own ranges), lookup by
 * canonical model name, writing one section while keeping the rest of the file, and the live
 * file a server re-reads when it changes. */
#include "store/preset.h"

#include "base/buf.h"
#include "base/log.h"
#include "base/util.h"
#include "store/layout.h"
#include "store/preset_int.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#define PRESET_MAX_PATH_VALUE 4096

struct section {
    char *name; /* canonical; "*" for the global section */
    int line;   /* of the header */
    struct preset_kv *kv;
    int n, cap;
};

struct preset_set {
    int refs;
    struct section *s;
    int n;
    const char **names; /* the sections other than "*" */
    int n_names;
};

const char *preset_origin_name(enum preset_origin o)
{
    static const char *const names[] = {"default", "gguf", "[*]", "model", "section", "request"};
    return (unsigned)o < ARRAY_LEN(names) ? names[o] : "?";
}

/* ---- names ---- */

/* The canonical form of a section name, or -1 with a message. */
static int canon_name(const char *name, char *out, size_t len, struct err *e)
{
    if (!strcmp(name, "*")) {
        snprintf(out, len, "*");
        return 0;
    }
    struct model_ref r;
    int rc = model_ref_parse(name, &r, e);
    if (rc)
        return rc;
    model_ref_format(&r, out, len);
    return 0;
}

static const struct section *find_section(const struct preset_set *p, const char *name)
{
    if (!p || !name)
        return NULL;
    char canon[LAYOUT_MAX_PATH];
    if (canon_name(name, canon, sizeof canon, NULL))
        snprintf(canon, sizeof canon, "%s", name);
    for (int i = 0; i < p->n; i++)
        if (!strcmp(p->s[i].name, canon))
            return &p->s[i];
    return NULL;
}

/* ---- values ---- */

static int truthy(const char *v)
{
    return !strcasecmp(v, "true") || !strcmp(v, "1") || !strcasecmp(v, "on") ||
           !strcasecmp(v, "enabled") || !strcasecmp(v, "yes");
}

static int falsy(const char *v)
{
    return !strcasecmp(v, "false") || !strcmp(v, "0") || !strcasecmp(v, "off") ||
           !strcasecmp(v, "disabled") || !strcasecmp(v, "no");
}

static int has_control(const char *s)
{
    for (; *s; s++)
        if ((unsigned char)*s < 0x20 || *s == 0x7f)
            return 1;
    return 0;
}

/* A few-shot messages value: a JSON array of {role, content} strings. */
static int check_messages(const char *v, struct err *e)
{
    json_error_t je;
    json_t *a = json_loads(v, JSON_REJECT_DUPLICATES, &je);
    int rc = 0;
    if (!a)
        rc = err_set(e, ERR_BAD_REQUEST, "messages is not valid JSON: %s", je.text);
    else if (!json_is_array(a))
        rc = err_set(e, ERR_BAD_REQUEST, "messages must be a JSON array of {role, content}");
    size_t i;
    json_t *m;
    if (!rc)
        json_array_foreach(a, i, m)
        {
            const char *role = json_string_value(json_object_get(m, "role"));
            if (!json_is_object(m) || !role || !json_is_string(json_object_get(m, "content"))) {
                rc = err_set(e, ERR_BAD_REQUEST,
                             "messages[%zu] must be an object with string role and content", i);
                break;
            }
            if (strcmp(role, "system") != 0 && strcmp(role, "user") != 0 &&
                strcmp(role, "assistant") != 0) {
                rc = err_set(e, ERR_BAD_REQUEST,
                             "messages[%zu].role must be system, user or assistant", i);
                break;
            }
        }
    json_decref(a);
    return rc;
}

/* ---- parsing ---- */

struct parser {
    const char *file;
    struct preset_set *p;
    struct section *cur;
    struct gen_params gen; /* scratch: values are checked by setting them */
    struct load_params load;
    int line;
    struct err *e;
};

static int perr(struct parser *ps, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int perr(struct parser *ps, const char *fmt, ...)
{
    char msg[400];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return err_set(ps->e, ERR_BAD_REQUEST, "%s:%d: %s", ps->file, ps->line, msg);
}

static void reset_scratch(struct parser *ps)
{
    gen_params_free(&ps->gen);
    load_params_free(&ps->load);
    gen_params_init(&ps->gen);
    load_params_init(&ps->load);
}

static const struct preset_kv *find_kv(const struct section *s, const char *key)
{
    for (int i = 0; s && i < s->n; i++)
        if (!strcmp(s->kv[i].key, key))
            return &s->kv[i];
    return NULL;
}

static int add_kv(struct parser *ps, const char *key, const char *value, int is_list)
{
    struct section *s = ps->cur;
    const struct preset_kv *dup = is_list ? NULL : find_kv(s, key);
    if (dup)
        return perr(ps, "'%s' is set twice in [%s] (first on line %d)", key, s->name, dup->line);
    if (s->n >= PRESET_MAX_KEYS)
        return perr(ps, "more than %d settings in [%s]", PRESET_MAX_KEYS, s->name);
    if (s->n == s->cap) {
        s->cap = s->cap ? s->cap * 2 : 8;
        s->kv = xrealloc(s->kv, sizeof *s->kv * (size_t)s->cap);
    }
    s->kv[s->n++] = (struct preset_kv){xstrdup(key), xstrdup(value), ps->line};
    return 0;
}

static int set_param(struct parser *ps, const char *key, const char *canon, const char *value)
{
    const struct param_desc *d = params_find(canon);
    if (!d)
        return perr(ps, "internal: '%s' has no parameter", canon);
    const char *v = value;
    if (d->type == PARAM_BOOL) {
        if (truthy(value))
            v = "true";
        else if (falsy(value))
            v = "false";
        else
            return perr(ps, "%s must be true or false, not '%s'", key, value);
    }
    struct err e2 = {0};
    void *target = d->group == PARAM_GEN ? (void *)&ps->gen : (void *)&ps->load;
    if (params_set_text(target, d, v, &e2))
        return perr(ps, "bad value for %s: %s", key, e2.msg);
    return add_kv(ps, d->name, v, d->type == PARAM_LIST || d->type == PARAM_BIAS);
}

/* The remote-* keys: a URL hearth can reach with libcurl, an environment variable's name, and
 * timeouts in seconds. */
static int check_remote_key(struct parser *ps, const char *key, const char *canon,
                            const char *value, int global)
{
    if (global)
        return perr(ps, "%s belongs in a model's section, not [*]", key);
    if (!strcmp(canon, "remote")) {
        if (strncmp(value, "http://", 7) != 0 && strncmp(value, "https://", 8) != 0)
            return perr(ps, "%s must be an http:// or https:// URL (the server's /v1), not '%s'",
                        key, value);
        if (strlen(value) >= PRESET_MAX_PATH_VALUE || has_control(value) || strchr(value, ' '))
            return perr(ps, "%s must be a URL without spaces or control characters", key);
        /* A password in the URL would show in listings and messages; the key has its place. */
        const char *host = strstr(value, "://") + 3;
        const char *at = strchr(host, '@');
        if (at && at < host + strcspn(host, "/?#"))
            return perr(ps,
                        "%s must not hold credentials (user:password@): put the key in the "
                        "variable remote-api-key-env names",
                        key);
    } else if (!strcmp(canon, "remote-model")) {
        if (strlen(value) > 256 || has_control(value))
            return perr(ps, "%s must be a model name of at most 256 bytes", key);
    } else if (!strcmp(canon, "remote-api-key-env")) {
        /* The name of a variable, never the key itself: the file may be shared or shown. */
        int ok = strlen(value) <= 128 && !(value[0] >= '0' && value[0] <= '9');
        for (const char *c = value; ok && *c; c++)
            ok = (*c >= 'A' && *c <= 'Z') || (*c >= 'a' && *c <= 'z') || (*c >= '0' && *c <= '9') ||
                 *c == '_';
        if (!ok)
            return perr(ps,
                        "%s must name an environment variable (letters, digits and '_'), "
                        "not hold the key itself",
                        key);
    } else {
        int64_t v;
        if (parse_i64(value, &v) || v < 1 || v > 86400)
            return perr(ps, "%s must be a number of seconds from 1 to 86400, not '%s'", key, value);
    }
    return 0;
}

/* A section that names a remote must say which of its models, and cannot also be a local
 * model. */
static int check_sections(struct parser *ps)
{
    for (int i = 0; i < ps->p->n; i++) {
        const struct section *s = &ps->p->s[i];
        const struct preset_kv *remote = find_kv(s, "remote");
        const char *what = NULL;
        if (remote && !find_kv(s, "remote-model"))
            what = "has remote but no remote-model (the name the remote server knows the "
                   "model by)";
        else if (remote && find_kv(s, "model"))
            what = "has both model and remote: a name is either a local model or a remote one";
        else if (!remote && (find_kv(s, "remote-model") || find_kv(s, "remote-api-key-env") ||
                             find_kv(s, "remote-timeout") || find_kv(s, "remote-connect-timeout")))
            what = "has remote-* keys but no remote = URL";
        if (what) {
            ps->line = s->line;
            return perr(ps, "[%s] %s", s->name, what);
        }
    }
    return 0;
}

static int set_model_key(struct parser *ps, const char *key, const char *canon, const char *value)
{
    struct err e2 = {0};
    int global = !strcmp(ps->cur->name, "*");
    if (!*value)
        return perr(ps, "%s must not be empty", key);
    if (!strcmp(canon, "model")) {
        if (global)
            return perr(ps, "model cannot be set in [*] (it would make every name one model)");
        struct model_ref r;
        if (model_ref_parse(value, &r, &e2))
            return perr(ps, "bad value for %s: %s", key, e2.msg);
    } else if (!strcmp(canon, "mmproj") || !strcmp(canon, "chat-template-file") ||
               !strcmp(canon, "adapter")) {
        if (strlen(value) >= PRESET_MAX_PATH_VALUE || has_control(value))
            return perr(ps, "%s must be a file path", key);
    } else if (!strcmp(canon, "messages")) {
        if (check_messages(value, &e2))
            return perr(ps, "%s", e2.msg);
    } else if (!strncmp(canon, "remote", 6)) {
        int rc = check_remote_key(ps, key, canon, value, global);
        if (rc)
            return rc;
    }
    return add_kv(ps, canon, value, 0);
}

static int set_key(struct parser *ps, const char *key, const char *value)
{
    struct preset_key k;
    if (!ps->cur) {
        if (!strcmp(key, "version"))
            return 0; /* llama-server writes `version = 1` above the sections */
        return perr(ps, "'%s' is outside a section (start one with [*] or [MODEL])", key);
    }
    if (preset_key_lookup(key, &k))
        return perr(ps, "unknown key '%s'", key);
    switch (k.kind) {
    case PKEY_PARAM: return set_param(ps, key, k.canon, value);
    case PKEY_NEG:
        if (truthy(value))
            return set_param(ps, key, k.canon, "false");
        if (falsy(value))
            return set_param(ps, key, k.canon, "true");
        return perr(ps, "%s must be true or false, not '%s'", key, value);
    case PKEY_FLASH:
        if (truthy(value))
            return set_param(ps, key, k.canon, "1");
        if (falsy(value))
            return set_param(ps, key, k.canon, "0");
        if (!strcasecmp(value, "auto") || !strcmp(value, "-1"))
            return set_param(ps, key, k.canon, "-1");
        return perr(ps, "%s must be on, off or auto, not '%s'", key, value);
    case PKEY_LOAD_MODE: {
        static const struct {
            const char *mode, *mmap, *mlock;
        } modes[] = {{"auto", "true", "false"},
                     {"none", "false", "false"},
                     {"mmap", "true", "false"},
                     {"mlock", "false", "true"},
                     {"mmap+mlock", "true", "true"}};
        for (size_t i = 0; i < ARRAY_LEN(modes); i++)
            if (!strcmp(value, modes[i].mode)) {
                int rc = set_param(ps, key, "use_mmap", modes[i].mmap);
                return rc ? rc : set_param(ps, key, "use_mlock", modes[i].mlock);
            }
        return perr(ps,
                    "%s '%s' is not supported by hearth (auto, none, mmap, mlock or "
                    "mmap+mlock)",
                    key, value);
    }
    case PKEY_MODEL: return set_model_key(ps, key, k.canon, value);
    case PKEY_ROUTER:
        if (!strcmp(k.canon, "load-on-startup")) {
            if (!strcmp(ps->cur->name, "*"))
                return perr(ps, "load-on-startup belongs in a model's section, not [*]");
            if (!truthy(value) && !falsy(value))
                return perr(ps, "%s must be true or false, not '%s'", key, value);
            return add_kv(ps, k.canon, truthy(value) ? "true" : "false", 0);
        } else {
            int64_t v;
            if (parse_i64(value, &v) || v < 0 || v > 86400)
                return perr(ps, "%s must be a number of seconds from 0 to 86400, not '%s'", key,
                            value);
            return add_kv(ps, k.canon, value, 0);
        }
    case PKEY_ALWAYS:
        if (truthy(value))
            return 0;
        return perr(ps, "%s = %s is not supported: hearth always does it", key, value);
    case PKEY_UNSUPPORTED:
        return perr(ps, "'%s' is a llama-server or Ollama setting that hearth does not support",
                    key);
    }
    return perr(ps, "unknown key '%s'", key);
}

static int start_section(struct parser *ps, const char *name)
{
    char canon[LAYOUT_MAX_PATH];
    struct err e2 = {0};
    if (!*name)
        return perr(ps, "empty section name");
    if (canon_name(name, canon, sizeof canon, &e2))
        return perr(ps, "section [%s] is not a model name: %s", name, e2.msg);
    for (int i = 0; i < ps->p->n; i++)
        if (!strcmp(ps->p->s[i].name, canon))
            return perr(ps, "duplicate section [%s] (first on line %d)", name, ps->p->s[i].line);
    if (ps->p->n >= PRESET_MAX_SECTIONS)
        return perr(ps, "more than %d sections", PRESET_MAX_SECTIONS);
    ps->p->s = xrealloc(ps->p->s, sizeof *ps->p->s * (size_t)(ps->p->n + 1));
    ps->cur = &ps->p->s[ps->p->n++];
    *ps->cur = (struct section){.name = xstrdup(canon), .line = ps->line};
    reset_scratch(ps);
    return 0;
}

/* A quoted value starting after the opening quote at *pp; the closing quote's end goes back in
 * *pp. */
static int unquote(struct parser *ps, const char **pp, const char *end, struct buf *out)
{
    const char *p = *pp;
    for (; p < end && *p != '"'; p++) {
        char c = *p;
        if (c == '\\') {
            if (++p >= end)
                break;
            switch (*p) {
            case 'n': c = '\n'; break;
            case 't': c = '\t'; break;
            case 'r': c = '\r'; break;
            case '"': c = '"'; break;
            case '\\': c = '\\'; break;
            case 'x': {
                unsigned v = 0;
                int k = 0;
                for (; k < 2 && p + 1 < end; k++) {
                    char h = p[1];
                    int d = h >= '0' && h <= '9'   ? h - '0'
                            : h >= 'a' && h <= 'f' ? h - 'a' + 10
                            : h >= 'A' && h <= 'F' ? h - 'A' + 10
                                                   : -1;
                    if (d < 0)
                        break;
                    v = v * 16 + (unsigned)d;
                    p++;
                }
                if (k != 2 || v == 0)
                    return perr(ps, "\\x needs two hex digits and must not be \\x00");
                c = (char)v;
                break;
            }
            default: return perr(ps, "unknown escape '\\%c' in a quoted value", *p);
            }
        }
        if (buf_append(out, &c, 1))
            return perr(ps, "value longer than %u bytes", PRESET_MAX_FILE);
    }
    if (p >= end)
        return perr(ps, "unterminated quoted value");
    *pp = p + 1;
    return 0;
}

static int is_ws(char c)
{
    return c == ' ' || c == '\t';
}

static int parse_line(struct parser *ps, const char *p, const char *end)
{
    while (p < end && is_ws(*p))
        p++;
    if (p == end || *p == ';' || *p == '#')
        return 0;
    if (*p == '[') {
        const char *close = memchr(p, ']', (size_t)(end - p));
        if (!close)
            return perr(ps, "section header without ']'");
        const char *a = p + 1, *b = close;
        while (a < b && is_ws(*a))
            a++;
        while (b > a && is_ws(b[-1]))
            b--;
        for (const char *q = close + 1; q < end && *q != ';' && *q != '#'; q++)
            if (!is_ws(*q))
                return perr(ps, "text after the section header");
        char *name = xstrndup(a, (size_t)(b - a));
        int rc = start_section(ps, name);
        free(name);
        return rc;
    }
    const char *k = p;
    if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || *p == '_'))
        return perr(ps, "expected [SECTION], KEY = VALUE or a comment");
    while (p < end && ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
                       (*p >= '0' && *p <= '9') || *p == '_' || *p == '.' || *p == '-'))
        p++;
    char *key = xstrndup(k, (size_t)(p - k));
    while (p < end && is_ws(*p))
        p++;
    if (p == end || *p != '=') {
        int rc = perr(ps, "expected '=' after '%s'", key);
        free(key);
        return rc;
    }
    p++;
    while (p < end && is_ws(*p))
        p++;
    struct buf v;
    buf_init(&v, PRESET_MAX_FILE);
    int rc = 0;
    if (p < end && *p == '"') {
        p++;
        rc = unquote(ps, &p, end, &v);
        while (!rc && p < end && is_ws(*p))
            p++;
        if (!rc && p < end && *p != ';' && *p != '#')
            rc = perr(ps, "text after the closing quote");
    } else {
        const char *b = p;
        while (b < end && *b != ';' && *b != '#')
            b++;
        while (b > p && is_ws(b[-1]))
            b--;
        buf_append(&v, p, (size_t)(b - p));
    }
    if (!rc) {
        buf_append(&v, "", 1);
        if (strlen(v.data) != v.len - 1)
            rc = perr(ps, "a value must not hold a NUL byte");
        else
            rc = set_key(ps, key, v.data);
    }
    buf_free(&v);
    free(key);
    return rc;
}

static struct preset_set *empty_set(void)
{
    struct preset_set *p = xcalloc(1, sizeof *p);
    p->refs = 1;
    return p;
}

int preset_parse(const char *name, const char *text, size_t len, struct preset_set **out,
                 struct err *e)
{
    *out = NULL;
    if (len > PRESET_MAX_FILE)
        return err_set(e, ERR_TOO_LARGE, "%s is larger than %u bytes", name, PRESET_MAX_FILE);
    struct parser ps = {.file = name, .p = empty_set(), .e = e};
    gen_params_init(&ps.gen);
    load_params_init(&ps.load);
    int rc = 0;
    const char *p = text, *end = text + len;
    if (memchr(text, '\0', len)) {
        ps.line = 1;
        for (const char *q = text; *q; q++)
            ps.line += *q == '\n';
        rc = perr(&ps, "the file holds a NUL byte");
    }
    while (!rc && p < end) {
        ps.line++;
        const char *nl = p;
        while (nl < end && *nl != '\n' && *nl != '\r')
            nl++;
        rc = parse_line(&ps, p, nl);
        p = nl < end && *nl == '\r' && nl + 1 < end && nl[1] == '\n' ? nl + 2 : nl + 1;
    }
    if (!rc)
        rc = check_sections(&ps);
    gen_params_free(&ps.gen);
    load_params_free(&ps.load);
    if (rc) {
        preset_release(ps.p);
        return rc;
    }
    struct preset_set *s = ps.p;
    s->names = xcalloc((size_t)s->n + 1, sizeof *s->names);
    for (int i = 0; i < s->n; i++)
        if (strcmp(s->s[i].name, "*") != 0)
            s->names[s->n_names++] = s->s[i].name;
    *out = s;
    return 0;
}

int preset_read_file(const char *path, char **out, size_t *len, struct err *e)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return err_set(e, errno == ENOENT ? ERR_NOT_FOUND : ERR_IO, "cannot read %s: %s", path,
                       strerror(errno));
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        close(fd);
        return err_set(e, ERR_BAD_REQUEST, "%s is not a regular file", path);
    }
    if (st.st_size > (off_t)PRESET_MAX_FILE) {
        close(fd);
        return err_set(e, ERR_TOO_LARGE, "%s is larger than %u bytes", path, PRESET_MAX_FILE);
    }
    char *data = xmalloc((size_t)st.st_size + 1);
    size_t n = 0;
    while (n < (size_t)st.st_size) {
        ssize_t r = read(fd, data + n, (size_t)st.st_size - n);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            break;
        n += (size_t)r;
    }
    close(fd);
    data[n] = '\0';
    *out = data;
    *len = n;
    return 0;
}

int preset_load(const char *path, struct preset_set **out, struct err *e)
{
    char *text;
    size_t len;
    int rc = preset_read_file(path, &text, &len, e);
    if (rc == ERR_NOT_FOUND) {
        *out = empty_set();
        return 0;
    }
    if (rc)
        return rc;
    rc = preset_parse(path, text, len, out, e);
    free(text);
    return rc;
}

struct preset_set *preset_retain(struct preset_set *p)
{
    if (p)
        __atomic_add_fetch(&p->refs, 1, __ATOMIC_RELAXED);
    return p;
}

void preset_release(struct preset_set *p)
{
    if (!p || __atomic_sub_fetch(&p->refs, 1, __ATOMIC_ACQ_REL) > 0)
        return;
    for (int i = 0; i < p->n; i++) {
        for (int k = 0; k < p->s[i].n; k++) {
            free((char *)p->s[i].kv[k].key);
            free((char *)p->s[i].kv[k].value);
        }
        free(p->s[i].kv);
        free(p->s[i].name);
    }
    free(p->s);
    free(p->names);
    free(p);
}

void preset_free(struct preset_set *p)
{
    preset_release(p);
}

const char *preset_get(const struct preset_set *p, const char *name, const char *key)
{
    const struct section *s = find_section(p, name);
    struct preset_key k;
    if (!s || preset_key_lookup(key, &k))
        return NULL;
    const struct preset_kv *kv = find_kv(s, k.canon);
    return kv ? kv->value : NULL;
}

const struct preset_kv *preset_entries(const struct preset_set *p, const char *name, int *n)
{
    const struct section *s = find_section(p, name);
    *n = s ? s->n : 0;
    return s ? s->kv : NULL;
}

const char *const *preset_sections(const struct preset_set *p, int *n)
{
    *n = p ? p->n_names : 0;
    return p ? p->names : NULL;
}

void preset_default_path(char *out, size_t len)
{
    const char *xdg = getenv("XDG_CONFIG_HOME"), *home = getenv("HOME");
    if (xdg && *xdg)
        snprintf(out, len, "%s/hearth/presets.ini", xdg);
    else
        snprintf(out, len, "%s/.config/hearth/presets.ini", home && *home ? home : ".");
}

/* ---- writing one section ---- */

static int needs_quotes(const char *v)
{
    size_t n = strlen(v);
    if (n && (is_ws(v[0]) || is_ws(v[n - 1]) || v[0] == '"'))
        return 1;
    for (const char *p = v; *p; p++)
        if ((unsigned char)*p < 0x20 || *p == 0x7f || *p == ';' || *p == '#')
            return 1;
    return 0;
}

static void put_value(struct buf *b, const char *v)
{
    if (!needs_quotes(v)) {
        buf_puts(b, v);
        return;
    }
    buf_puts(b, "\"");
    for (const char *p = v; *p; p++) {
        unsigned char c = (unsigned char)*p;
        if (c == '\n')
            buf_puts(b, "\\n");
        else if (c == '\t')
            buf_puts(b, "\\t");
        else if (c == '\r')
            buf_puts(b, "\\r");
        else if (c == '"')
            buf_puts(b, "\\\"");
        else if (c == '\\')
            buf_puts(b, "\\\\");
        else if (c < 0x20 || c == 0x7f)
            buf_printf(b, "\\x%02x", c);
        else
            buf_append(b, p, 1);
    }
    buf_puts(b, "\"");
}

/* Where section `canon` is in text: from the start of its header to the end of its last
 * setting's line (newline included). Returns 1 when found. */
static int find_span(const char *text, size_t len, const char *canon, size_t *start, size_t *stop)
{
    const char *p = text, *end = text + len;
    int in = 0, found = 0;
    while (p < end) {
        const char *nl = p;
        while (nl < end && *nl != '\n' && *nl != '\r')
            nl++;
        const char *next = nl < end && *nl == '\r' && nl + 1 < end && nl[1] == '\n' ? nl + 2
                           : nl < end                                               ? nl + 1
                                                                                    : nl;
        const char *q = p;
        while (q < nl && is_ws(*q))
            q++;
        if (q < nl && *q == '[') {
            if (in)
                break;
            const char *close = memchr(q, ']', (size_t)(nl - q));
            if (close) {
                const char *a = q + 1, *b = close;
                while (a < b && is_ws(*a))
                    a++;
                while (b > a && is_ws(b[-1]))
                    b--;
                char *name = xstrndup(a, (size_t)(b - a));
                char c[LAYOUT_MAX_PATH];
                if (!canon_name(name, c, sizeof c, NULL) && !strcmp(c, canon)) {
                    in = found = 1;
                    *start = (size_t)(p - text);
                    *stop = (size_t)(next - text);
                }
                free(name);
            }
        } else if (in && q < nl && *q != ';' && *q != '#') {
            *stop = (size_t)(next - text);
        }
        p = next;
    }
    return found;
}

/* Holds an exclusive lock on the folder of path while a writer reads, edits and renames. */
static int lock_dir(const char *path, struct err *e)
{
    char dir[LAYOUT_MAX_PATH];
    snprintf(dir, sizeof dir, "%s", path);
    char *slash = strrchr(dir, '/');
    if (slash == dir)
        dir[1] = '\0';
    else if (slash)
        *slash = '\0';
    else
        snprintf(dir, sizeof dir, ".");
    int rc = layout_mkdirs(dir, e);
    if (rc)
        return rc;
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return err_set(e, ERR_IO, "cannot open %s: %s", dir, strerror(errno));
    while (flock(fd, LOCK_EX) != 0)
        if (errno != EINTR) {
            close(fd);
            return err_set(e, ERR_IO, "cannot lock %s: %s", dir, strerror(errno));
        }
    return fd;
}

int preset_format_section(struct buf *out, const char *name, const struct strlist *kv,
                          struct err *e)
{
    buf_printf(out, "[%s]\n", name);
    for (int i = 0; i < kv->n; i++) {
        const char *eq = strchr(kv->v[i], '=');
        if (!eq)
            return err_set(e, ERR_BAD_REQUEST, "'%s' is not KEY=VALUE", kv->v[i]);
        const char *a = kv->v[i], *b = eq;
        while (a < b && is_ws(*a))
            a++;
        while (b > a && is_ws(b[-1]))
            b--;
        buf_append(out, a, (size_t)(b - a));
        buf_puts(out, " = ");
        put_value(out, eq + 1);
        if (buf_puts(out, "\n"))
            return err_set(e, ERR_TOO_LARGE, "the section is larger than %u bytes",
                           PRESET_MAX_FILE);
    }
    return 0;
}

int preset_write_section(const char *path, const char *name, const struct strlist *kv,
                         struct err *e)
{
    char canon[LAYOUT_MAX_PATH];
    int rc = canon_name(name, canon, sizeof canon, e);
    if (rc)
        return rc;
    if (strlen(path) >= LAYOUT_MAX_PATH - 40)
        return err_set(e, ERR_BAD_REQUEST, "presets path too long");
    int lock = lock_dir(path, e);
    if (lock < 0)
        return lock;
    char *text = NULL;
    size_t len = 0;
    rc = preset_read_file(path, &text, &len, e);
    if (rc == ERR_NOT_FOUND)
        rc = 0;
    if (!rc && !text) {
        text = xstrdup("");
        len = 0;
    }
    struct buf sec, out;
    buf_init(&sec, PRESET_MAX_FILE);
    buf_init(&out, PRESET_MAX_FILE);
    if (rc)
        goto done;
    if (kv && (rc = preset_format_section(&sec, name, kv, e)))
        goto done;
    size_t start = 0, stop = 0;
    if (find_span(text, len, canon, &start, &stop)) {
        buf_append(&out, text, start);
        buf_append(&out, sec.data ? sec.data : "", sec.len);
        if (stop > 0 && text[stop - 1] != '\n' && stop < len)
            buf_puts(&out, "\n");
        buf_append(&out, text + stop, len - stop);
    } else if (!kv) {
        rc = err_set(e, ERR_NOT_FOUND, "%s has no section [%s]", path, name);
        goto done;
    } else {
        buf_append(&out, text, len);
        if (len && text[len - 1] != '\n')
            buf_puts(&out, "\n");
        if (len)
            buf_puts(&out, "\n");
        buf_append(&out, sec.data, sec.len);
    }
    if (out.len > PRESET_MAX_FILE) {
        rc = err_set(e, ERR_TOO_LARGE, "%s would be larger than %u bytes", path, PRESET_MAX_FILE);
        goto done;
    }
    struct preset_set *check;
    rc = preset_parse(path, out.data ? out.data : "", out.len, &check, e);
    if (rc)
        goto done;
    preset_release(check);
    rc = layout_write_atomic(path, out.data ? out.data : "", out.len, e);
done:
    buf_free(&sec);
    buf_free(&out);
    free(text);
    close(lock);
    return rc;
}
