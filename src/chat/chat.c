/* Chat prompts: canonical messages rendered through a model's Jinja chat template (jinja.h), or
 * through llama.h's built-in families where there is no Jinja (Ollama's Go templates), or through
 * the plain fallback format where there is no template at all. */
#include "chat/chat.h"

#include "base/buf.h"
#include "base/util.h"
#include "chat/jinja.h"

#include <llama.h>
#include <stdlib.h>
#include <string.h>

/* Renders one expression of x through the engine: "{{ x }}" is Python's str(), and
 * "{{ x | tojson }}" json.dumps with transformers' options. */
static char *render_value(const char *expr, json_t *x)
{
    json_t *vars = json_pack("{s:O}", "x", x);
    char *out = NULL;
    struct err e = {0};
    if (jinja_render(expr, strlen(expr), vars, NULL, &out, &e))
        out = NULL;
    json_decref(vars);
    return out;
}

/* The messages with every tool call's object arguments replaced by their JSON text, for the
 * templates that print arguments as they are (they expect OpenAI's string). */
static json_t *string_arguments(json_t *messages)
{
    json_t *copy = json_deep_copy(messages);
    size_t i, j;
    json_t *m, *tc;
    json_array_foreach(copy, i, m)
    {
        json_array_foreach(json_object_get(m, "tool_calls"), j, tc)
        {
            json_t *fn = json_object_get(tc, "function");
            json_t *args = json_object_get(fn, "arguments");
            if (!json_is_object(args))
                continue;
            char *s = render_value("{{ x | tojson }}", args);
            if (s)
                json_object_set_new(fn, "arguments", json_string(s));
            free(s);
        }
    }
    return copy;
}

/* The first non-empty object arguments of a tool call, or NULL. */
static json_t *first_object_arguments(json_t *messages)
{
    size_t i, j;
    json_t *m, *tc;
    json_array_foreach(messages, i, m)
    {
        json_array_foreach(json_object_get(m, "tool_calls"), j, tc)
        {
            json_t *args = json_object_get(json_object_get(tc, "function"), "arguments");
            if (json_is_object(args) && json_object_size(args))
                return args;
        }
    }
    return NULL;
}

static int render_with(const char *tmpl, const struct chat_input *in, json_t *messages, char **out,
                       struct err *e)
{
    json_t *vars = json_object();
    json_object_set(vars, "messages", messages);
    if (in->tools)
        json_object_set(vars, "tools", in->tools);
    json_object_set_new(vars, "add_generation_prompt", json_boolean(in->add_generation_prompt));
    json_object_set_new(vars, "bos_token", json_string(in->bos_token ? in->bos_token : ""));
    json_object_set_new(vars, "eos_token", json_string(in->eos_token ? in->eos_token : ""));
    const char *k;
    json_t *v;
    json_object_foreach(in->kwargs, k, v)
    {
        if (strcmp(k, "messages") != 0 && strcmp(k, "tools") != 0 &&
            strcmp(k, "add_generation_prompt") != 0)
            json_object_set(vars, k, v);
    }
    int rc = jinja_render(tmpl, strlen(tmpl), vars, NULL, out, e);
    json_decref(vars);
    return rc;
}

/* The messages with every null content made "" (as llama.cpp does for templates that take tool
 * calls), or NULL when none is null. */
static json_t *nonnull_content(json_t *messages)
{
    size_t i;
    json_t *m;
    int any = 0;
    json_array_foreach(messages, i, m)
    {
        any |= json_is_null(json_object_get(m, "content"));
    }
    if (!any)
        return NULL;
    json_t *copy = json_deep_copy(messages);
    json_array_foreach(copy, i, m)
    {
        if (json_is_null(json_object_get(m, "content")))
            json_object_set_new(m, "content", json_string(""));
    }
    return copy;
}

/* Whether tmpl is the name of one of llama.cpp's built-in formats ("chatml", "llama3"...), which
 * llama-server's --chat-template (and so a preset's chat-template) accepts in place of Jinja. */
static int is_builtin_name(const char *tmpl)
{
    if (strchr(tmpl, '{') || strlen(tmpl) > 64)
        return 0;
    const char *names[128];
    int32_t n = llama_chat_builtin_templates(names, ARRAY_LEN(names));
    for (int32_t i = 0; i < n && i < (int32_t)ARRAY_LEN(names); i++)
        if (!strcmp(names[i], tmpl))
            return 1;
    return 0;
}

int chat_render(const char *tmpl, const struct chat_input *in, char **out, struct err *e)
{
    *out = NULL;
    if (!tmpl || !*tmpl)
        return err_set(e, ERR_BAD_REQUEST, "the model has no chat template");
    if (is_builtin_name(tmpl))
        return chat_render_builtin(tmpl, in, out, e);
    struct err je = {0};
    json_t *args = first_object_arguments(in->messages);
    if (render_with(tmpl, in, in->messages, out, &je) == 0) {
        /* Arguments are objects (what most templates want: `arguments | tojson`, `.items()`).
         * A template that prints them as they come wants OpenAI's JSON string: its output then
         * holds Python's repr of the object, and the string reads right instead. */
        char *repr = args ? render_value("{{ x }}", args) : NULL;
        if (repr && strstr(*out, repr)) {
            json_t *msgs = string_arguments(in->messages);
            char *again = NULL;
            struct err e2 = {0};
            if (render_with(tmpl, in, msgs, &again, &e2) == 0) {
                free(*out);
                *out = again;
            }
            json_decref(msgs);
        }
        free(repr);
        return 0;
    }
    /* The template failed on the canonical shape. Some templates fail on what OpenAI allows
     * and transformers passes through: a null content beside tool calls (`'x' in content`,
     * `content + ...`), or object arguments where they concatenate a string. Try those inputs
     * in that order, as llama.cpp's workarounds do; the first that renders wins, and when none
     * does the template's own first error is the answer. */
    json_t *nn = nonnull_content(in->messages);
    json_t *sa = args ? string_arguments(in->messages) : NULL;
    json_t *both = nn && sa ? string_arguments(nn) : NULL;
    json_t *tries[] = {nn, sa, both};
    int rc = -1;
    for (size_t k = 0; k < ARRAY_LEN(tries) && rc != 0; k++) {
        struct err e2 = {0};
        if (tries[k])
            rc = render_with(tmpl, in, tries[k], out, &e2);
    }
    json_decref(nn);
    json_decref(sa);
    json_decref(both);
    if (rc == 0)
        return 0;
    /* A template past a cap is as much the request's problem as one that raises: 400. */
    return err_set(e, ERR_BAD_REQUEST, "chat template: %s", je.msg);
}

int chat_render_builtin(const char *tmpl, const struct chat_input *in, char **out, struct err *e)
{
    *out = NULL;
    if (!tmpl || !*tmpl)
        return err_set(e, ERR_BAD_REQUEST, "the model has no chat template");
    size_t n = json_array_size(in->messages);
    struct llama_chat_message *lm = xcalloc(n ? n : 1, sizeof *lm);
    size_t total = 64;
    for (size_t i = 0; i < n; i++) {
        json_t *m = json_array_get(in->messages, i);
        const char *c = json_string_value(json_object_get(m, "content"));
        const char *role = json_string_value(json_object_get(m, "role"));
        lm[i].role = role ? role : "user";
        lm[i].content = c ? c : "";
        total += strlen(lm[i].content) + 64;
    }
    if (total > (size_t)INT32_MAX / 2) {
        free(lm);
        return err_set(e, ERR_TOO_LARGE, "the conversation is too large");
    }
    int32_t cap = (int32_t)(total * 2);
    char *buf = xmalloc((size_t)cap);
    int32_t len = llama_chat_apply_template(tmpl, lm, n, in->add_generation_prompt != 0, buf, cap);
    if (len > cap) {
        cap = len + 1;
        buf = xrealloc(buf, (size_t)cap);
        len = llama_chat_apply_template(tmpl, lm, n, in->add_generation_prompt != 0, buf, cap);
    }
    free(lm);
    if (len < 0) {
        free(buf);
        return err_set(e, ERR_BAD_REQUEST,
                       "the template is not one of llama.cpp's built-in chat formats");
    }
    buf = xrealloc(buf, (size_t)len + 1);
    buf[len] = '\0';
    *out = buf;
    return 0;
}

/* A content that is a string, or a list of parts whose text parts are joined. */
static void put_content(struct buf *b, json_t *content)
{
    if (json_is_string(content)) {
        buf_append(b, json_string_value(content), json_string_length(content));
        return;
    }
    size_t i;
    json_t *part;
    json_array_foreach(content, i, part)
    {
        json_t *t = json_object_get(part, "text");
        if (json_is_string(t))
            buf_append(b, json_string_value(t), json_string_length(t));
    }
}

int chat_render_plain(const struct chat_input *in, char **out, struct err *e)
{
    struct buf b;
    buf_init(&b, 256u << 20);
    size_t i;
    json_t *m;
    json_array_foreach(in->messages, i, m)
    {
        const char *role = json_string_value(json_object_get(m, "role"));
        if (!role)
            role = "user";
        char label[32];
        snprintf(label, sizeof label, "%s", role);
        if (label[0] >= 'a' && label[0] <= 'z')
            label[0] = (char)(label[0] - 'a' + 'A');
        buf_printf(&b, "%s: ", label);
        put_content(&b, json_object_get(m, "content"));
        size_t j;
        json_t *tc;
        json_array_foreach(json_object_get(m, "tool_calls"), j, tc)
        {
            json_t *fn = json_object_get(tc, "function");
            char *args =
                json_dumps(json_object_get(fn, "arguments"), JSON_COMPACT | JSON_ENCODE_ANY);
            buf_printf(&b, "\n[call %s %s]",
                       json_string_value(json_object_get(fn, "name"))
                           ? json_string_value(json_object_get(fn, "name"))
                           : "",
                       args ? args : "{}");
            free(args);
        }
        if (buf_puts(&b, "\n\n")) {
            buf_free(&b);
            return err_set(e, ERR_TOO_LARGE, "the conversation is too large");
        }
    }
    if (in->add_generation_prompt)
        buf_puts(&b, "Assistant:");
    *out = buf_steal(&b);
    return 0;
}
