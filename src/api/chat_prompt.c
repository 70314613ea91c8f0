/* A chat turned into a prompt for its model: the store's system prompt and few-shot messages
 * around the client's messages, through the template DESIGN.md's precedence picks. */
#include "api/api.h"
#include "base/log.h"
#include "base/util.h"
#include "engine/mfile.h"
#include "engine/proto.h"
#include "grammar/schema.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FEW_SHOT_MAX   1000
#define TOKEN_TEXT_MAX 256 /* a BOS/EOS text longer than this is not a real special token */

/* The text of the token whose id the integer key id_key holds, from the GGUF's vocabulary
 * (tokenizer.ggml.tokens), or NULL. mfile_open checked every string of the array against the
 * file; the walk checks again and stops at the id, so a hostile file costs at most one pass. */
static char *token_text(const struct mfile *f, const char *id_key)
{
    int64_t id;
    if (mfile_get_int(f, id_key, &id) || id < 0)
        return NULL;
    const struct mfile_kv *kv = mfile_find(f, "tokenizer.ggml.tokens");
    if (!kv || kv->type != MFILE_ARRAY || kv->arr_type != MFILE_STRING || (uint64_t)id >= kv->arr_n)
        return NULL;
    const uint8_t *end = f->map + f->size;
    if (kv->val < f->map || end - kv->val < 12)
        return NULL;
    const uint8_t *p = kv->val + 12; /* past the element type and count */
    for (int64_t i = 0;; i++) {
        uint64_t n;
        if (end - p < 8)
            return NULL;
        memcpy(&n, p, 8);
        if (n > (uint64_t)(end - p) - 8)
            return NULL;
        if (i == id)
            return n <= TOKEN_TEXT_MAX ? xstrndup((const char *)p + 8, n) : NULL;
        p += 8 + n;
    }
}

/* What a model without a template of its own falls back to: llama.cpp's built-in format for
 * an architecture that has one chat format, else NULL (the plain format). */
static const char *builtin_for_arch(const char *arch)
{
    static const struct {
        const char *arch, *tmpl;
    } table[] = {
        {"gemma", "gemma"},
        {"gemma2", "gemma"},
        {"gemma3", "gemma"},
        {"gemma3n", "gemma"},
        {"phi3", "phi3"},
        {"command-r", "command-r"},
        {"cohere2", "command-r"},
        {"chatglm", "chatglm4"},
        {"exaone", "exaone3"},
        {"exaone4", "exaone4"},
        {"granite", "granite"},
        {"rwkv6", "rwkv-world"},
        {"rwkv7", "rwkv-world"},
        {"minicpm", "minicpm"},
        {"bailingmoe", "bailing"},
        {"gpt-oss", "gpt-oss"},
        {"hunyuan-moe", "hunyuan-moe"},
        {"hunyuan-dense", "hunyuan-dense"},
        {"seed_oss", "seed_oss"},
        {"llama4", "llama4"},
        {"smollm3", "chatml"},
        {"pangu-embedded", "pangu-embedded"},
    };
    for (size_t i = 0; arch && i < ARRAY_LEN(table); i++)
        if (!strcmp(arch, table[i].arch))
            return table[i].tmpl;
    return NULL;
}

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
    /* The reasoning budget needs the text that closes this family's reasoning. */
    if (req->gen.reasoning_budget >= 0 && !(req->gen.reasoning_end && *req->gen.reasoning_end)) {
        const char *end = strstr(tmpl, "<think>")   ? "\n</think>\n\n"
                          : strstr(tmpl, "[THINK]") ? "[/THINK]"
                                                    : NULL;
        if (end && req->think != 0) {
            free(req->gen.reasoning_end);
            req->gen.reasoning_end = xstrdup(end);
        } else if (!req->prompt_warning[0]) {
            snprintf(req->prompt_warning, sizeof req->prompt_warning,
                     "reasoning_budget was not applied: %s",
                     req->think == 0 ? "thinking is off"
                                     : "the model's template has no <think> or [THINK] reasoning");
        }
    }
    if (req->gen.reasoning_budget >= 0 && req->gen.grammar && *req->gen.grammar &&
        !req->prompt_warning[0])
        snprintf(req->prompt_warning, sizeof req->prompt_warning,
                 "reasoning_budget was not applied: a grammar constrains the output");
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
    int rc = chat_tool_grammar(
        req->syntax, req->tools, req->tool_choice == API_TOOLS_FUNCTION ? req->tool_name : NULL,
        req->parallel_tool_calls, req->in_reasoning, grammar_from_schema, &g, e);
    if (rc)
        return rc;
    free(req->gen.grammar);
    req->gen.grammar = g;
    native_mark(req, "grammar");
    return 0;
}

/* A remote model gets the conversation itself (in OpenAI's shape: tool-call arguments as JSON
 * text), not a prompt: its server has the template. Tools travel beside it (remote.c). */
static void remote_messages(struct native_req *req, json_t *all)
{
    json_t *out = json_deep_copy(all);
    size_t i, k;
    json_t *m, *call;
    json_array_foreach(out, i, m)
    {
        json_array_foreach(json_object_get(m, "tool_calls"), k, call)
        {
            json_t *f = json_object_get(call, "function");
            json_t *args = json_object_get(f, "arguments");
            if (json_is_object(args) || json_is_array(args)) {
                char *text = json_dumps(args, JSON_COMPACT);
                json_object_set_new(f, "arguments", json_string(text ? text : "{}"));
                free(text);
            }
        }
    }
    json_decref(req->messages);
    req->messages = out;
    /* remote.c writes the remote's reasoning and tool calls back in this syntax, so that they
     * reach every API the way a local model's do. Only when the caller can want them: the
     * parser trims the content's edges, and otherwise the remote's content passes unchanged. */
    req->parse = (json_array_size(req->tools) && req->tool_choice != API_TOOLS_NONE) ||
                 req->think == 1 || req->think_level[0];
    req->syntax = CHAT_SYNTAX_HERMES;
    req->in_reasoning = 0;
}

int api_chat_prompt(struct native_req *req, json_t *messages, struct err *e)
{
    char *tmpl = NULL;
    const char *which = api_chat_template(req, &tmpl);
    if (json_array_size(messages) > API_MAX_MESSAGES) {
        free(tmpl);
        return err_set(e, ERR_TOO_LARGE, "a conversation has at most %d messages",
                       API_MAX_MESSAGES);
    }
    if (which && strcmp(which, "gguf") != 0)
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
    if (req->remote) {
        remote_messages(req, all);
        json_decref(all);
        json_decref(shots);
        free(tmpl);
        return 0;
    }
    json_t *kwargs = prompt_kwargs(req);
    int tools_on = json_array_size(req->tools) && req->tool_choice != API_TOOLS_NONE;
    struct chat_input in = {.messages = all,
                            .tools = tools_on ? req->tools : NULL,
                            .kwargs = kwargs,
                            .add_generation_prompt = 1};
    struct mfile mf;
    int have_mf = req->path && mfile_open(req->path, &mf, NULL) == 0;
    char *bos = have_mf ? token_text(&mf, "tokenizer.ggml.bos_token_id") : NULL;
    char *eos = have_mf ? token_text(&mf, "tokenizer.ggml.eos_token_id") : NULL;
    char *arch = have_mf ? mfile_get_str(&mf, "general.architecture") : NULL;
    if (have_mf)
        mfile_close(&mf);
    in.bos_token = bos;
    in.eos_token = eos;
    int rc;
    if (which && !strcmp(which, "ollama")) {
        rc = chat_render_builtin(tmpl, &in, &req->prompt, e);
    } else if (tmpl) {
        rc = chat_render(tmpl, &in, &req->prompt, e);
        /* A template that writes the BOS text itself: the tokenizer must not add another. */
        if (!rc && bos && *bos && !strncmp(req->prompt, bos, strlen(bos)))
            req->flags |= PROTO_GEN_NO_BOS;
    } else if (builtin_for_arch(arch)) {
        const char *name = builtin_for_arch(arch);
        rc = chat_render_builtin(name, &in, &req->prompt, e);
        snprintf(req->prompt_warning, sizeof req->prompt_warning,
                 "the model has no chat template: used llama.cpp's built-in '%s' format for "
                 "its architecture (%s)",
                 name, arch);
    } else {
        rc = chat_render_plain(&in, &req->prompt, e);
        snprintf(req->prompt_warning, sizeof req->prompt_warning,
                 "the model has no chat template: used the plain 'Role: text' format");
    }
    if (req->prompt_warning[0])
        log_info("model=%s msg=\"%s\"", req->model, req->prompt_warning);
    if (!rc) {
        req->flags |= PROTO_GEN_PARSE_SPECIAL;
        rc = output_setup(req, tmpl ? tmpl : "", tools_on, e);
    }
    if (!rc) {
        log_debug("msg=\"chat rendered\" model=%s messages=%zu prompt_bytes=%zu", req->model,
                  json_array_size(all), strlen(req->prompt));
    }
    free(bos);
    free(eos);
    free(arch);
    json_decref(kwargs);
    json_decref(all);
    json_decref(shots);
    free(tmpl);
    return rc;
}
