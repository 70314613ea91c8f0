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

int api_chat_prompt(struct native_req *req, const struct chat_message *msgs, size_t n,
                    struct err *e)
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
    struct chat_message *all = xcalloc(n + n_shots + 1, sizeof *all);
    size_t k = 0;
    int has_system = 0;
    for (size_t i = 0; i < n; i++)
        has_system |= !strcmp(msgs[i].role, "system");
    if (!has_system && req->model_system && *req->model_system)
        all[k++] = (struct chat_message){"system", req->model_system};
    for (size_t i = 0; i < n_shots; i++) {
        json_t *m = json_array_get(shots, i);
        const char *role = json_string_value(json_object_get(m, "role"));
        const char *content = json_string_value(json_object_get(m, "content"));
        if (role && content)
            all[k++] = (struct chat_message){role, content};
    }
    /* The client's own system message stays first. */
    for (size_t i = 0; i < n; i++)
        all[k++] = msgs[i];
    if (has_system && k > n && (n_shots > 0)) {
        /* Move the client's leading system message before the few-shot messages. */
        size_t first = k - n;
        if (!strcmp(all[first].role, "system")) {
            struct chat_message sys = all[first];
            memmove(&all[1], &all[0], first * sizeof *all);
            all[0] = sys;
        }
    }
    int rc = chat_render(tmpl, all, k, 1, &req->prompt, e);
    if (!rc)
        req->flags |= PROTO_GEN_PARSE_SPECIAL;
    free(all);
    json_decref(shots);
    free(tmpl);
    return rc;
}
