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

static int is_system(json_t *m)
{
    const char *role = json_string_value(json_object_get(m, "role"));
    return role && !strcmp(role, "system");
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
    if (json_array_size(messages) > API_MAX_MESSAGES) {
        free(tmpl);
        return err_set(e, ERR_TOO_LARGE, "a conversation has at most %d messages",
                       API_MAX_MESSAGES);
    }
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
    struct chat_input in = {.messages = all, .add_generation_prompt = 1};
    int rc = chat_render(tmpl, &in, &req->prompt, e);
    if (!rc) {
        req->flags |= PROTO_GEN_PARSE_SPECIAL;
        log_debug("msg=\"chat rendered\" model=%s messages=%zu prompt_bytes=%zu", req->model,
                  json_array_size(all), strlen(req->prompt));
    }
    json_decref(all);
    json_decref(shots);
    free(tmpl);
    return rc;
}
