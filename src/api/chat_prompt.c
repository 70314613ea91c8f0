/* A chat turned into a prompt for its model: the store's system prompt and few-shot messages
 * around the client's messages, through the template DESIGN.md's precedence picks. */
#include "api/api.h"
#include "base/log.h"
#include "base/util.h"

#include <stdlib.h>
#include <string.h>

#define FEW_SHOT_MAX 1000

const char *api_chat_template(const struct native_req *req, char **out)
{
    if (out)
        *out = NULL;
    /* A Jinja template a preset gives is the user's explicit choice. */
    if (req->model_template && !req->model_template_is_go) {
        if (out)
            *out = xstrdup(req->model_template);
        return "preset";
    }
    char *t = api_model_template(req->path);
    if (t) {
        if (out)
            *out = t;
        else
            free(t);
        return "gguf";
    }
    /* Ollama's Go template: llama.cpp recognises a family by the tokens the text holds
     * (<|im_start|>, [INST], <start_of_turn>...), which a Go template holds as well. */
    if (req->model_template) {
        if (out)
            *out = xstrdup(req->model_template);
        return "ollama";
    }
    return NULL;
}

/* A tool result that names no function gets the name of the call it answers (templates that
 * print the function's name read it from the result). */
static void name_results(json_t *all)
{
    size_t i;
    json_t *m;
    json_array_foreach(all, i, m)
    {
        const char *role = json_string_value(json_object_get(m, "role"));
        const char *id = json_string_value(json_object_get(m, "tool_call_id"));
        if (!role || strcmp(role, "tool") != 0 || !id || json_object_get(m, "name"))
            continue;
        for (size_t k = i; k-- > 0;) {
            size_t c;
            json_t *call;
            json_array_foreach(json_object_get(json_array_get(all, k), "tool_calls"), c, call)
            {
                if (!strcmp(id, json_string_value(json_object_get(call, "id"))
                                    ? json_string_value(json_object_get(call, "id"))
                                    : "")) {
                    json_object_set(m, "name",
                                    json_object_get(json_object_get(call, "function"), "name"));
                    k = 0;
                    break;
                }
            }
        }
    }
}

static int is_system(json_t *m)
{
    const char *role = json_string_value(json_object_get(m, "role"));
    return role && !strcmp(role, "system");
}

/* The template's extra variables: the request's chat_template_kwargs, and its think settings
 * as the templates that have a switch name it (Qwen3's enable_thinking, GPT-OSS's
 * reasoning_effort). */
static json_t *prompt_kwargs(const struct native_req *req)
{
    json_t *k = req->kwargs ? json_deep_copy(req->kwargs) : json_object();
    if (req->think >= 0 && !json_object_get(k, "enable_thinking"))
        json_object_set_new(k, "enable_thinking", json_boolean(req->think));
    if (req->think_level[0] && !json_object_get(k, "reasoning_effort"))
        json_object_set_new(k, "reasoning_effort", json_string(req->think_level));
    return k;
}

/* How the output is read back: the syntax (the preset's, or detected from the template),
 * whether reasoning and tool calls are split off, and the grammar a forced tool_choice needs. */
static int output_setup(struct native_req *req, const char *tmpl, int tools_on, struct err *e)
{
    req->syntax = chat_syntax_detect(tmpl);
    if (req->tool_format) {
        int s = chat_syntax_from_name(req->tool_format);
        if (s < 0)
            return err_set(e, ERR_BAD_REQUEST,
                           "the preset of model '%s' sets tool-call-format '%s', which is not "
                           "one hearth knows (see the README)",
                           req->model, req->tool_format);
        req->syntax = (enum chat_syntax)s;
    }
    if (tools_on && req->syntax == CHAT_SYNTAX_NONE)
        return err_set(e, ERR_BAD_REQUEST,
                       "model '%s' does not support tools: its chat template never mentions them "
                       "(a preset's tool-call-format names the format if the model knows one)",
                       req->model);
    req->in_reasoning = req->think != 0 && chat_prompt_opens_reasoning(req->prompt);
    req->parse = tools_on || req->in_reasoning || req->syntax == CHAT_SYNTAX_HARMONY ||
                 strstr(tmpl, "<think>") || strstr(tmpl, "[THINK]") || req->think > 0;
    if (req->parse && tools_on && chat_syntax_needs_special(req->syntax))
        req->flags |= PROTO_GEN_RENDER_SPECIAL;
    if (req->syntax == CHAT_SYNTAX_HARMONY)
        req->flags |= PROTO_GEN_RENDER_SPECIAL; /* its channels are control tokens */
    if (!tools_on ||
        (req->tool_choice != API_TOOLS_REQUIRED && req->tool_choice != API_TOOLS_FUNCTION))
        return 0;
    if (req->gen.grammar && *req->gen.grammar)
        return err_set(e, ERR_BAD_REQUEST,
                       "a tool_choice that forces a tool call cannot be combined with a grammar "
                       "or a response format (both constrain the output)");
    char *g = NULL;
    int rc = chat_tool_grammar(req->syntax, req->tools,
                               req->tool_choice == API_TOOLS_FUNCTION ? req->tool_name : NULL,
                               req->parallel_tool_calls, req->in_reasoning,
                               /* grammar_from_schema once src/grammar/ has it: */ NULL, &g, e);
    if (rc)
        return rc;
    free(req->gen.grammar);
    req->gen.grammar = g;
    native_mark(req, "grammar");
    return 0;
}

int api_chat_prompt(struct native_req *req, json_t *messages, struct err *e)
{
    char *tmpl = NULL;
    const char *which = api_chat_template(req, &tmpl);
    if (!tmpl)
        return err_set(e, ERR_BAD_REQUEST,
                       "model '%s' has no chat template, so messages cannot be formatted; use a "
                       "completion route (or raw) instead",
                       req->model);
    if (strcmp(which, "gguf") != 0)
        log_debug("model=%s template=%s", req->model, which);
    json_t *shots = req->model_messages ? json_loads(req->model_messages, 0, NULL) : NULL;
    size_t n_shots = json_is_array(shots) ? json_array_size(shots) : 0;
    if (n_shots > FEW_SHOT_MAX)
        n_shots = FEW_SHOT_MAX;
    /* The client's own leading system message stays first, then the model's few-shot
     * messages, then the conversation; the model's system prompt only when the client gave
     * none. */
    json_t *all = json_array();
    size_t n = json_array_size(messages), i = 0;
    int has_system = 0;
    for (size_t j = 0; j < n; j++)
        has_system |= is_system(json_array_get(messages, j));
    if (n > 0 && is_system(json_array_get(messages, 0)))
        json_array_append(all, json_array_get(messages, i++));
    else if (!has_system && req->model_system && *req->model_system)
        json_array_append_new(
            all, json_pack("{s:s,s:s}", "role", "system", "content", req->model_system));
    for (size_t j = 0; j < n_shots; j++) {
        json_t *m = json_array_get(shots, j);
        const char *role = json_string_value(json_object_get(m, "role"));
        const char *content = json_string_value(json_object_get(m, "content"));
        if (role && content)
            json_array_append_new(all, json_pack("{s:s,s:s}", "role", role, "content", content));
    }
    for (; i < n; i++)
        json_array_append(all, json_array_get(messages, i));
    name_results(all);
    json_t *kwargs = prompt_kwargs(req);
    int tools_on = json_array_size(req->tools) && req->tool_choice != API_TOOLS_NONE;
    struct chat_input in = {.messages = all,
                            .tools = tools_on ? req->tools : NULL,
                            .kwargs = kwargs,
                            .add_generation_prompt = 1};
    int rc = chat_render(tmpl, &in, &req->prompt, e);
    if (!rc) {
        req->flags |= PROTO_GEN_PARSE_SPECIAL;
        rc = output_setup(req, tmpl, tools_on, e);
    }
    json_decref(kwargs);
    json_decref(all);
    json_decref(shots);
    free(tmpl);
    return rc;
}
