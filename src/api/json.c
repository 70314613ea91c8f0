/* JSON helpers shared by the protocol files: errors, typed field access, options, times. */
#include "api/api.h"
#include "base/log.h"
#include "base/util.h"

#include <ctype.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>

void api_error(struct http_reply *rep, int code, const char *msg)
{
    json_t *o = json_object();
    json_object_set_new(o, "error", json_string(msg));
    rep->retry_after = err_retry_after(code);
    api_reply(rep, err_http_status(code), o);
}

void api_errorf(struct http_reply *rep, int code, const char *fmt, ...)
{
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    api_error(rep, code, msg);
}

/* Folders whose names error replies must not show (api_redact_add), longest first. */
#define REDACT_MAX 16
static struct {
    char *root;
    const char *with;
} redact[REDACT_MAX];
static int n_redact;

void api_redact_add(const char *root, const char *with)
{
    size_t l = root ? strlen(root) : 0;
    while (l > 1 && root[l - 1] == '/')
        l--;
    if (l < 2 || n_redact >= REDACT_MAX)
        return;
    for (int i = 0; i < n_redact; i++)
        if (strlen(redact[i].root) == l && !strncmp(redact[i].root, root, l))
            return;
    int at = n_redact++;
    while (at > 0 && strlen(redact[at - 1].root) < l) {
        redact[at] = redact[at - 1];
        at--;
    }
    redact[at].root = xstrndup(root, l);
    redact[at].with = with;
}

void api_redact_clear(void)
{
    for (int i = 0; i < n_redact; i++)
        free(redact[i].root);
    n_redact = 0;
}

/* text with every registered folder replaced: "ROOT/x" becomes "WITHx" (malloc'd). */
char *api_redact(const char *text)
{
    struct buf b;
    buf_init(&b, 0);
    const char *p = text;
    while (*p) {
        int hit = -1;
        if (*p == '/')
            for (int i = 0; i < n_redact && hit < 0; i++) {
                size_t l = strlen(redact[i].root);
                if (!strncmp(p, redact[i].root, l) &&
                    (p[l] == '/' || (!isalnum((unsigned char)p[l]) && !strchr("-_.", p[l])) ||
                     !p[l]))
                    hit = i;
            }
        if (hit < 0) {
            buf_append(&b, p, 1);
            p++;
            continue;
        }
        size_t l = strlen(redact[hit].root);
        buf_puts(&b, redact[hit].with);
        p += l;
        if (*p == '/' && !*redact[hit].with)
            p++;
    }
    buf_append(&b, "", 1);
    return b.data;
}

void api_reply(struct http_reply *rep, int status, json_t *obj)
{
    char *s = json_dumps(obj, JSON_COMPACT);
    json_decref(obj);
    /* An error never tells a client where the server keeps its files (CVE-2024-39719). */
    if (s && status >= 400 && n_redact) {
        char *r = api_redact(s);
        free(s);
        s = r;
    }
    http_reply_json(rep, status, s ? s : "{}");
    free(s);
}

size_t api_json_depth(const char *text, size_t len)
{
    size_t depth = 0, max = 0;
    int in_string = 0;
    for (size_t i = 0; i < len; i++) {
        char c = text[i];
        if (in_string) {
            if (c == '\\')
                i++;
            else if (c == '"')
                in_string = 0;
        } else if (c == '"') {
            in_string = 1;
        } else if (c == '[' || c == '{') {
            if (++depth > max)
                max = depth;
        } else if ((c == ']' || c == '}') && depth) {
            depth--;
        }
    }
    return max;
}

json_t *api_parse_body(const struct http_request *req, struct http_reply *rep, api_error_fn error)
{
    if (req->body_len == 0) {
        error(rep, ERR_BAD_REQUEST, "missing request body");
        return NULL;
    }
    /* jansson allows 2048 levels; nothing a request means needs more than a few, and deep
     * nesting costs stack in every recursive walk after parsing. */
    if (api_json_depth(req->body, req->body_len) > API_MAX_JSON_DEPTH) {
        char msg[128];
        snprintf(msg, sizeof msg, "the request body nests JSON deeper than %d levels",
                 API_MAX_JSON_DEPTH);
        error(rep, ERR_BAD_REQUEST, msg);
        return NULL;
    }
    json_error_t je;
    json_t *o = json_loadb(req->body, req->body_len, JSON_REJECT_DUPLICATES, &je);
    if (!o) {
        char msg[300];
        snprintf(msg, sizeof msg, "invalid JSON at line %d column %d: %s", je.line, je.column,
                 je.text);
        error(rep, ERR_BAD_REQUEST, msg);
        return NULL;
    }
    if (!json_is_object(o)) {
        json_decref(o);
        error(rep, ERR_BAD_REQUEST, "the request body must be a JSON object");
        return NULL;
    }
    return o;
}

int api_get_str(json_t *obj, const char *key, const char **out, struct err *e)
{
    json_t *v = json_object_get(obj, key);
    if (!v || json_is_null(v))
        return 0;
    if (!json_is_string(v))
        return err_set(e, ERR_BAD_REQUEST, "field '%s' must be a string", key);
    *out = json_string_value(v);
    return 0;
}

int api_get_bool(json_t *obj, const char *key, int *out, struct err *e)
{
    json_t *v = json_object_get(obj, key);
    if (!v || json_is_null(v))
        return 0;
    if (!json_is_boolean(v))
        return err_set(e, ERR_BAD_REQUEST, "field '%s' must be true or false", key);
    *out = json_is_true(v);
    return 0;
}

int api_get_int(json_t *obj, const char *key, int64_t min, int64_t max, int64_t *out, struct err *e)
{
    json_t *v = json_object_get(obj, key);
    if (!v || json_is_null(v))
        return 0;
    double d = json_is_integer(v) ? (double)json_integer_value(v)
               : json_is_real(v)  ? json_real_value(v)
                                  : NAN;
    if (isnan(d) || d != floor(d))
        return err_set(e, ERR_BAD_REQUEST, "field '%s' must be an integer", key);
    if (d < (double)min || d > (double)max)
        return err_set(e, ERR_BAD_REQUEST, "field '%s' must be from %lld to %lld", key,
                       (long long)min, (long long)max);
    *out = (int64_t)d;
    return 0;
}

static int set_from_json(void *target, const struct param_desc *d, json_t *v, struct err *e)
{
    char text[64];
    switch (d->type) {
    case PARAM_INT:
    case PARAM_I64:
        if (json_is_integer(v))
            snprintf(text, sizeof text, "%lld", (long long)json_integer_value(v));
        else if (json_is_real(v) && json_real_value(v) == floor(json_real_value(v)) &&
                 fabs(json_real_value(v)) < 9e15)
            snprintf(text, sizeof text, "%.0f", json_real_value(v));
        else
            return err_set(e, ERR_BAD_REQUEST, "option %s must be an integer", d->name);
        return params_set_text(target, d, text, e);
    case PARAM_FLOAT:
        if (!json_is_number(v))
            return err_set(e, ERR_BAD_REQUEST, "option %s must be a number", d->name);
        snprintf(text, sizeof text, "%.17g", json_number_value(v));
        return params_set_text(target, d, text, e);
    case PARAM_BOOL:
        if (!json_is_boolean(v))
            return err_set(e, ERR_BAD_REQUEST, "option %s must be true or false", d->name);
        return params_set_text(target, d, json_is_true(v) ? "true" : "false", e);
    case PARAM_STR:
        if (!json_is_string(v))
            return err_set(e, ERR_BAD_REQUEST, "option %s must be a string", d->name);
        return params_set_text(target, d, json_string_value(v), e);
    case PARAM_LIST: {
        struct strlist *l = (struct strlist *)(void *)((char *)target + d->offset);
        strlist_free(l); /* a request replaces, it does not append to defaults */
        if (json_is_string(v))
            return params_set_text(target, d, json_string_value(v), e);
        if (!json_is_array(v))
            return err_set(e, ERR_BAD_REQUEST, "option %s must be a string or a list of strings",
                           d->name);
        size_t i;
        json_t *x;
        json_array_foreach(v, i, x)
        {
            if (!json_is_string(x))
                return err_set(e, ERR_BAD_REQUEST, "option %s must be a list of strings", d->name);
            int rc = params_set_text(target, d, json_string_value(x), e);
            if (rc)
                return rc;
        }
        return 0;
    }
    case PARAM_BIAS: {
        /* {"token": bias} (OpenAI) or [[token, bias], ...] (llama-server); false or -inf bans. */
        struct gen_params *g = target;
        free(g->logit_bias);
        g->logit_bias = NULL;
        g->n_logit_bias = 0;
        const char *key;
        json_t *x;
        if (json_is_object(v)) {
            json_object_foreach(v, key, x)
            {
                int64_t tok;
                if (parse_i64(key, &tok) || tok < 0 || tok > INT32_MAX)
                    return err_set(e, ERR_BAD_REQUEST,
                                   "logit_bias keys must be token ids, not '%s'", key);
                double b = json_is_false(x) ? -INFINITY : json_number_value(x);
                if (!json_is_false(x) && !json_is_number(x))
                    return err_set(e, ERR_BAD_REQUEST, "logit_bias values must be numbers");
                if (g->n_logit_bias >= d->max_count)
                    return err_set(e, ERR_TOO_LARGE, "at most %d logit_bias entries", d->max_count);
                g->logit_bias =
                    xrealloc(g->logit_bias, sizeof *g->logit_bias * (size_t)(g->n_logit_bias + 1));
                g->logit_bias[g->n_logit_bias++] =
                    (struct logit_bias_entry){(int32_t)tok, (float)b};
            }
            return 0;
        }
        if (json_is_array(v)) {
            size_t i;
            json_array_foreach(v, i, x)
            {
                json_t *t = json_array_get(x, 0), *b = json_array_get(x, 1);
                if (!json_is_array(x) || json_array_size(x) != 2 || !json_is_integer(t) ||
                    !(json_is_number(b) || json_is_false(b)))
                    return err_set(e, ERR_BAD_REQUEST,
                                   "logit_bias entries must be [token, bias] pairs");
                if (g->n_logit_bias >= d->max_count)
                    return err_set(e, ERR_TOO_LARGE, "at most %d logit_bias entries", d->max_count);
                json_int_t tok = json_integer_value(t);
                if (tok < 0 || tok > INT32_MAX)
                    return err_set(e, ERR_BAD_REQUEST, "logit_bias token %lld is invalid",
                                   (long long)tok);
                g->logit_bias =
                    xrealloc(g->logit_bias, sizeof *g->logit_bias * (size_t)(g->n_logit_bias + 1));
                g->logit_bias[g->n_logit_bias++] = (struct logit_bias_entry){
                    (int32_t)tok, json_is_false(b) ? -INFINITY : (float)json_number_value(b)};
            }
            return 0;
        }
        return err_set(e, ERR_BAD_REQUEST, "logit_bias must be an object or a list of pairs");
    }
    }
    return ERR_INTERNAL;
}

int api_apply_options(json_t *opts, struct native_req *req, json_t *warnings, struct err *e)
{
    if (!opts || json_is_null(opts))
        return 0;
    if (!json_is_object(opts))
        return err_set(e, ERR_BAD_REQUEST, "options must be an object");
    const char *key;
    json_t *v;
    json_object_foreach(opts, key, v)
    {
        if (json_is_null(v))
            continue;
        const struct param_desc *d = params_find(key);
        if (!d) {
            int retired = params_is_retired(key);
            char msg[300];
            snprintf(msg, sizeof msg,
                     retired ? "option '%s' is no longer supported by llama.cpp and was ignored"
                             : "unknown option '%s' was ignored",
                     key);
            if (!retired && api->strict_options)
                return err_set(e, ERR_BAD_REQUEST, "unknown option '%s'", key);
            log_warn("msg=%s", log_q(msg));
            if (warnings)
                json_array_append_new(warnings, json_string(msg));
            continue;
        }
        void *target = d->group == PARAM_GEN ? (void *)&req->gen : (void *)&req->load;
        int rc = set_from_json(target, d, v, e);
        if (rc)
            return rc;
        native_mark(req, d->name);
    }
    return 0;
}

int api_get_tokens(json_t *arr, const char *field, struct native_req *req, struct err *e)
{
    if (!json_is_array(arr))
        return err_set(e, ERR_BAD_REQUEST, "%s must be a list of token ids", field);
    if (json_array_size(arr) > PROTO_MAX_TOKENS)
        return err_set(e, ERR_TOO_LARGE, "%s has more than %u tokens", field, PROTO_MAX_TOKENS);
    free(req->prefix_tokens);
    req->prefix_tokens = xcalloc(json_array_size(arr) + 1, sizeof(int32_t));
    req->n_prefix_tokens = 0;
    size_t i;
    json_t *t;
    json_array_foreach(arr, i, t)
    {
        if (!json_is_integer(t) || json_integer_value(t) < 0 || json_integer_value(t) > INT32_MAX)
            return err_set(e, ERR_BAD_REQUEST, "%s must be a list of token ids", field);
        req->prefix_tokens[req->n_prefix_tokens++] = (int32_t)json_integer_value(t);
    }
    return 0;
}

int api_apply_fields(json_t *body, const char *const *skip, size_t n_skip, int only_known,
                     struct native_req *req, json_t *warnings, struct err *e)
{
    json_t *opts = json_object();
    const char *key;
    json_t *v;
    json_object_foreach(body, key, v)
    {
        int own = 0;
        for (size_t i = 0; i < n_skip && !own; i++)
            own = !strcmp(key, skip[i]);
        if (!own && (!only_known || params_find(key)))
            json_object_set(opts, key, v);
    }
    int rc = api_apply_options(opts, req, warnings, e);
    json_decref(opts);
    /* llama-server's cache_prompt (default true): false computes the whole prompt again. */
    json_t *cp = json_object_get(body, "cache_prompt");
    if (!rc && cp && !json_is_boolean(cp))
        rc = err_set(e, ERR_BAD_REQUEST, "cache_prompt must be true or false");
    if (!rc && json_is_false(cp))
        req->flags |= PROTO_GEN_NO_CACHE;
    return rc;
}

void api_time_fmt(time_t t, char *out, size_t len)
{
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(out, len, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

void api_time_now(char *out, size_t len)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    struct tm tm;
    gmtime_r(&ts.tv_sec, &tm);
    char base[32];
    strftime(base, sizeof base, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(out, len, "%s.%09ldZ", base, ts.tv_nsec);
}

/* Any JSON value (llama.cpp's grammars/json.gbnf, written out again), with a bounded amount of
 * whitespace so that a model cannot pad forever. */
const char api_json_grammar[] =
    "root ::= object\n"
    "value ::= object | array | string | number | (\"true\" | \"false\" | \"null\") ws\n"
    "object ::= \"{\" ws ( string \":\" ws value (\",\" ws string \":\" ws value)* )? \"}\" ws\n"
    "array ::= \"[\" ws ( value (\",\" ws value)* )? \"]\" ws\n"
    "string ::= \"\\\"\" ( [^\"\\\\\\x7F\\x00-\\x1F] | \"\\\\\" ([\"\\\\bfnrt] | \"u\" "
    "[0-9a-fA-F]{4}) )* \"\\\"\" ws\n"
    "number ::= (\"-\"? ([0-9] | [1-9] [0-9]{0,15})) (\".\" [0-9]+)? ([eE] [-+]? [0-9] "
    "[1-9]{0,15})? ws\n"
    "ws ::= | \" \" | \"\\n\" [ \\t]{0,20}\n";
