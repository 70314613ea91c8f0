#include "store/modelfile.h"

#include "base/buf.h"
#include "base/util.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* Ollama's deprecated parameters: Ollama warns and drops them; hearth says so and stops, since
 * dropping a line of the user's file silently is what principle 6 forbids. */
static const char *const deprecated[] = {"penalize_newline", "low_vram", "f16_kv", "logits_all",
                                         "vocab_only"};

int modelfile_role_valid(const char *role)
{
    return role && (!strcmp(role, "system") || !strcmp(role, "user") || !strcmp(role, "assistant"));
}

int modelfile_template_is_go(const char *t)
{
    if (!t || strstr(t, "{%"))
        return 0;
    static const char *const keywords[] = {
        "if ",    "range ", "with ", "end",  "else", "define ", "template ", "block ",
        "slice ", "json ",  "not ",  "and ", "or ",  "eq ",     "ne ",       "len "};
    for (const char *p = strstr(t, "{{"); p; p = strstr(p + 2, "{{")) {
        const char *q = p + 2;
        if (*q == '-')
            q++;
        while (*q == ' ' || *q == '\t' || *q == '\n')
            q++;
        if (*q == '.' || *q == '$')
            return 1;
        for (size_t i = 0; i < ARRAY_LEN(keywords); i++) {
            size_t n = strlen(keywords[i]);
            if (!strncmp(q, keywords[i], n)) {
                /* "end" and "else" stand alone: "{{ end }}", "{{- else }}". */
                char c = q[n];
                if (keywords[i][n - 1] == ' ' || c == ' ' || c == '}' || c == '-')
                    return 1;
            }
        }
    }
    return 0;
}

int modelfile_add_param(struct strlist *params, const char *name, const char *value, struct err *e)
{
    const struct param_desc *d = params_find(name);
    if (!d) {
        for (size_t i = 0; i < ARRAY_LEN(deprecated); i++)
            if (!strcasecmp(name, deprecated[i]))
                return err_set(e, ERR_BAD_REQUEST,
                               "parameter '%s' is deprecated by Ollama and not supported by "
                               "hearth; remove it",
                               name);
        return err_set(e, ERR_BAD_REQUEST, "unknown parameter '%s'", name);
    }
    int repeatable = d->type == PARAM_LIST || d->type == PARAM_BIAS;
    size_t nl = strlen(d->name);
    int count = 0;
    for (int i = 0; i < params->n; i++)
        if (!strncmp(params->v[i], d->name, nl) && params->v[i][nl] == '=')
            count++;
    if (count && !repeatable)
        return err_set(e, ERR_BAD_REQUEST, "parameter '%s' is given twice", d->name);
    if (repeatable && d->max_count && count >= d->max_count)
        return err_set(e, ERR_TOO_LARGE, "at most %d values of %s", d->max_count, d->name);
    /* Check the value the way a request's would be: on a scratch struct of its group. */
    int rc;
    if (d->group == PARAM_GEN) {
        struct gen_params g;
        gen_params_init(&g);
        rc = params_set_text(&g, d, value, e);
        gen_params_free(&g);
    } else {
        struct load_params l;
        load_params_init(&l);
        rc = params_set_text(&l, d, value, e);
        load_params_free(&l);
    }
    if (rc)
        return rc;
    size_t len = nl + strlen(value) + 2;
    char *kv = xmalloc(len);
    snprintf(kv, len, "%s=%s", d->name, value);
    strlist_add(params, kv);
    free(kv);
    return 0;
}

void modelfile_free(struct modelfile *m)
{
    if (!m)
        return;
    free(m->from);
    free(m->template_text);
    free(m->system);
    free(m->adapter);
    free(m->requires);
    strlist_free(&m->licenses);
    strlist_free(&m->params);
    for (int i = 0; i < m->n_messages; i++)
        free(m->messages[i].content);
    free(m->messages);
    memset(m, 0, sizeof *m);
}

/* MAJOR[.MINOR[.PATCH]][-PRERELEASE][+BUILD], as golang.org/x/mod/semver accepts after a 'v'. */
static int semver_valid(const char *s)
{
    int parts = 0;
    const char *p = s;
    for (;;) {
        if (!isdigit((unsigned char)*p))
            return 0;
        if (*p == '0' && isdigit((unsigned char)p[1]))
            return 0; /* no leading zeros */
        while (isdigit((unsigned char)*p))
            p++;
        parts++;
        if (*p != '.' || parts == 3)
            break;
        p++;
    }
    if (*p == '-' || *p == '+') {
        if (parts != 3)
            return 0;
        p++;
        if (!*p)
            return 0;
        for (; *p; p++)
            if (!isalnum((unsigned char)*p) && *p != '.' && *p != '-' && *p != '+')
                return 0;
    }
    return *p == '\0';
}

enum mf_cmd {
    MF_FROM,
    MF_PARAMETER,
    MF_TEMPLATE,
    MF_SYSTEM,
    MF_ADAPTER,
    MF_LICENSE,
    MF_MESSAGE,
    MF_REQUIRES,
    MF_DRAFT,
    MF_RENDERER,
    MF_PARSER,
};

static const char *const cmd_names[] = {"FROM",    "PARAMETER", "TEMPLATE", "SYSTEM",
                                        "ADAPTER", "LICENSE",   "MESSAGE",  "REQUIRES",
                                        "DRAFT",   "RENDERER",  "PARSER"};

/* The parser's position: text and the current line. */
struct mf_reader {
    const char *text;
    size_t len, pos;
    int line; /* of the line that starts at pos */
};

/* The next line as [*start, *end) without its "\n" or "\r\n"; 0 at the end of the text. */
static int next_line(struct mf_reader *r, const char **start, const char **end)
{
    if (r->pos >= r->len)
        return 0;
    const char *s = r->text + r->pos;
    const char *nl = memchr(s, '\n', r->len - r->pos);
    const char *e = nl ? nl : r->text + r->len;
    r->pos = nl ? (size_t)(nl - r->text) + 1 : r->len;
    r->line++;
    if (e > s && e[-1] == '\r')
        e--;
    *start = s;
    *end = e;
    return 1;
}

static int is_blank(char c)
{
    return c == ' ' || c == '\t';
}

/* Reads a value starting at [s, e) on the current line, continuing onto the next lines while a
 * quote is open. Returns 0 with *out (owned) or an error naming line. */
static int read_value(struct mf_reader *r, const char *s, const char *e, int line, char **out,
                      struct err *ef)
{
    while (s < e && is_blank(*s))
        s++;
    while (e > s && is_blank(e[-1]))
        e--;
    size_t q = 0;
    if (e - s >= 3 && !strncmp(s, "\"\"\"", 3))
        q = 3;
    else if (s < e && *s == '"')
        q = 1;
    struct buf b;
    buf_init(&b, MODELFILE_MAX_VALUE + 8);
    int rc = 0;
    if (buf_append(&b, s, (size_t)(e - s)))
        goto too_long;
    if (q) {
        const char *quote = q == 3 ? "\"\"\"" : "\"";
        for (;;) {
            size_t n = b.len;
            while (n && is_blank(b.data[n - 1]))
                n--;
            if (n >= 2 * q && !memcmp(b.data + n - q, quote, q)) {
                b.len = n - q;
                b.data[b.len] = '\0';
                buf_consume(&b, q);
                break;
            }
            const char *ls, *le;
            if (!next_line(r, &ls, &le)) {
                rc = err_set(ef, ERR_BAD_REQUEST, "line %d: the %s opened here is never closed",
                             line, q == 3 ? "\"\"\"" : "quote");
                goto out;
            }
            if (buf_append(&b, "\n", 1) || buf_append(&b, ls, (size_t)(le - ls)))
                goto too_long;
        }
    }
    if (b.len > MODELFILE_MAX_VALUE)
        goto too_long;
    *out = buf_steal(&b);
    goto out;
too_long:
    rc = err_set(ef, ERR_TOO_LARGE, "line %d: the value is longer than %u bytes", line,
                 MODELFILE_MAX_VALUE);
out:
    buf_free(&b);
    return rc;
}

/* Stores a value that may be given once. */
static int set_once(char **slot, int *first_line, int line, const char *what, char *value,
                    struct err *e)
{
    if (*slot) {
        free(value);
        return err_set(e, ERR_BAD_REQUEST, "line %d: %s is given twice (first on line %d)", line,
                       what, *first_line);
    }
    *slot = value;
    *first_line = line;
    return 0;
}

int modelfile_parse(const char *text, size_t len, struct modelfile *m, struct err *e)
{
    memset(m, 0, sizeof *m);
    if (len > MODELFILE_MAX_SIZE)
        return err_set(e, ERR_TOO_LARGE, "the Modelfile is larger than %u bytes",
                       MODELFILE_MAX_SIZE);
    if (memchr(text, '\0', len))
        return err_set(e, ERR_BAD_REQUEST, "the Modelfile holds a NUL byte (is it a text file?)");
    struct mf_reader r = {.text = text, .len = len};
    if (len >= 3 && !memcmp(text, "\xEF\xBB\xBF", 3))
        r.pos = 3; /* a UTF-8 byte order mark, as Ollama skips it */
    int n_cmds = 0, tmpl_line = 0, sys_line = 0, adapter_line = 0, req_line = 0;
    const char *s, *end;
    while (next_line(&r, &s, &end)) {
        int line = r.line;
        while (s < end && is_blank(*s))
            s++;
        if (s == end || *s == '#')
            continue;
        const char *w = s;
        while (s < end && isalpha((unsigned char)*s))
            s++;
        size_t wl = (size_t)(s - w);
        int cmd = -1;
        for (size_t i = 0; i < ARRAY_LEN(cmd_names); i++)
            if (wl == strlen(cmd_names[i]) && !strncasecmp(w, cmd_names[i], wl))
                cmd = (int)i;
        if (cmd < 0 || (s < end && !is_blank(*s))) {
            const char *we = s;
            while (we < end && !is_blank(*we))
                we++;
            return err_set(e, ERR_BAD_REQUEST,
                           "line %d: unknown instruction '%.*s' (expected FROM, PARAMETER, "
                           "TEMPLATE, SYSTEM, ADAPTER, LICENSE, MESSAGE or REQUIRES)",
                           line, (int)((we - w) > 64 ? 64 : (we - w)), w);
        }
        if (++n_cmds > MODELFILE_MAX_COMMANDS)
            return err_set(e, ERR_TOO_LARGE, "line %d: more than %d instructions", line,
                           MODELFILE_MAX_COMMANDS);
        while (s < end && is_blank(*s))
            s++;
        if (s == end)
            return err_set(e, ERR_BAD_REQUEST, "line %d: %s needs a value", line, cmd_names[cmd]);
        if (cmd == MF_DRAFT)
            return err_set(e, ERR_BAD_REQUEST,
                           "line %d: DRAFT is not supported by hearth (speculative decoding "
                           "with a draft model is not implemented)",
                           line);
        if (cmd == MF_RENDERER || cmd == MF_PARSER)
            return err_set(e, ERR_BAD_REQUEST,
                           "line %d: %s is not supported by hearth (it names one of Ollama's "
                           "built-in Go %ss; hearth renders the model's Jinja template and "
                           "parses its output itself)",
                           line, cmd_names[cmd], cmd == MF_RENDERER ? "renderer" : "parser");
        /* PARAMETER and MESSAGE take a word before the value. */
        char word[64] = "";
        if (cmd == MF_PARAMETER || cmd == MF_MESSAGE) {
            const char *ws = s;
            while (s < end && !is_blank(*s))
                s++;
            size_t n = (size_t)(s - ws);
            if (n >= sizeof word)
                return err_set(e, ERR_BAD_REQUEST, "line %d: the %s name is too long", line,
                               cmd == MF_PARAMETER ? "parameter" : "role");
            memcpy(word, ws, n);
            word[n] = '\0';
            while (s < end && is_blank(*s))
                s++;
            if (s == end)
                return err_set(e, ERR_BAD_REQUEST, "line %d: %s %s needs a value", line,
                               cmd_names[cmd], word);
        }
        char *value = NULL;
        int rc = read_value(&r, s, end, line, &value, e);
        if (rc)
            return rc;
        switch (cmd) {
        case MF_FROM: rc = set_once(&m->from, &m->from_line, line, "FROM", value, e); break;
        case MF_PARAMETER: {
            struct err pe = {0};
            rc = modelfile_add_param(&m->params, word, value, &pe);
            if (rc)
                err_set(e, rc, "line %d: %s", line, pe.msg);
            free(value);
            break;
        }
        case MF_TEMPLATE:
            rc = set_once(&m->template_text, &tmpl_line, line, "TEMPLATE", value, e);
            if (!rc)
                m->template_is_go = modelfile_template_is_go(value);
            break;
        case MF_SYSTEM: rc = set_once(&m->system, &sys_line, line, "SYSTEM", value, e); break;
        case MF_ADAPTER:
            rc = set_once(&m->adapter, &adapter_line, line, "ADAPTER", value, e);
            break;
        case MF_LICENSE:
            strlist_add(&m->licenses, value);
            free(value);
            break;
        case MF_MESSAGE:
            if (!modelfile_role_valid(word)) {
                free(value);
                return err_set(e, ERR_BAD_REQUEST,
                               "line %d: message role must be system, user or assistant, not "
                               "'%s'",
                               line, word);
            }
            if (m->n_messages >= MODELFILE_MAX_MESSAGES) {
                free(value);
                return err_set(e, ERR_TOO_LARGE, "line %d: more than %d messages", line,
                               MODELFILE_MAX_MESSAGES);
            }
            m->messages = xrealloc(m->messages, (size_t)(m->n_messages + 1) * sizeof *m->messages);
            snprintf(m->messages[m->n_messages].role, sizeof m->messages[0].role, "%.15s", word);
            m->messages[m->n_messages++].content = value;
            break;
        case MF_REQUIRES: {
            const char *v = value[0] == 'v' ? value + 1 : value;
            if (!semver_valid(v)) {
                rc = err_set(e, ERR_BAD_REQUEST,
                             "line %d: REQUIRES must be a version like 0.14.0, not '%s'", line,
                             value);
                free(value);
                break;
            }
            char *req = xstrdup(v);
            free(value);
            rc = set_once(&m->requires, &req_line, line, "REQUIRES", req, e);
            break;
        }
        default: free(value); break;
        }
        if (rc)
            return rc;
    }
    if (!m->from)
        return err_set(e, ERR_BAD_REQUEST,
                       "the Modelfile has no FROM line (FROM names the "
                       "base model: a path, a model name or a digest)");
    return 0;
}
