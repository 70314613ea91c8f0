/* Tools, tool_choice and reasoning settings at the API edge: each protocol's fields checked and
 * turned into the canonical tools of chat/chat.h and the native request's settings. */
#include "api/api.h"
#include "base/util.h"

#include <stdlib.h>
#include <string.h>

#define TOOLS_MAX       128          /* tools in one request */
#define TOOLS_MAX_BYTES (512u << 10) /* all tools, serialized */
#define TOOL_NAME_MAX   128
#define TOOL_CALLS_MAX  128 /* calls in one assistant message */
#define KWARGS_MAX      64

static int valid_name(const char *s)
{
    if (!s || !*s || strlen(s) > TOOL_NAME_MAX)
        return 0;
    for (; *s; s++)
        if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9') ||
              *s == '_' || *s == '-' || *s == '.' || *s == ':'))
            return 0;
    return 1;
}

int api_tools_set(struct native_req *req, json_t *tools, int anthropic, struct err *e)
{
    if (!tools || json_is_null(tools))
        return 0;
    if (!json_is_array(tools))
        return err_set(e, ERR_BAD_REQUEST, "tools must be a list");
    if (json_array_size(tools) > TOOLS_MAX)
        return err_set(e, ERR_TOO_LARGE, "at most %d tools", TOOLS_MAX);
    if (!json_array_size(tools))
        return 0;
    json_t *out = json_array();
    size_t i;
    json_t *t;
    int rc = 0;
    json_array_foreach(tools, i, t)
    {
        if (!json_is_object(t)) {
            rc = err_set(e, ERR_BAD_REQUEST, "tools[%zu] must be an object", i);
            break;
        }
        const char *type = json_string_value(json_object_get(t, "type"));
        json_t *fn = t, *params;
        const char *pkey = "input_schema";
        if (anthropic) {
            if (type && strcmp(type, "custom") != 0) {
                rc = err_set(e, ERR_BAD_REQUEST,
                             "tools[%zu]: server tools (type '%s') are not supported; give a "
                             "client tool with name and input_schema",
                             i, type);
                break;
            }
        } else {
            if (!type || strcmp(type, "function") != 0) {
                rc = err_set(e, ERR_BAD_REQUEST, "tools[%zu].type must be \"function\"", i);
                break;
            }
            fn = json_object_get(t, "function");
            pkey = "parameters";
            if (!json_is_object(fn)) {
                rc = err_set(e, ERR_BAD_REQUEST, "tools[%zu].function must be an object", i);
                break;
            }
        }
        const char *name = json_string_value(json_object_get(fn, "name"));
        if (!valid_name(name)) {
            rc = err_set(e, ERR_BAD_REQUEST,
                         "tools[%zu] needs a name of 1 to %d letters, digits, '_', '-', '.' or "
                         "':'",
                         i, TOOL_NAME_MAX);
            break;
        }
        for (size_t k = 0; k < json_array_size(out); k++)
            if (!strcmp(name, json_string_value(json_object_get(
                                  json_object_get(json_array_get(out, k), "function"), "name"))))
                rc =
                    err_set(e, ERR_BAD_REQUEST, "tools[%zu]: the name '%s' is used twice", i, name);
        if (rc)
            break;
        json_t *desc = json_object_get(fn, "description");
        if (desc && !json_is_string(desc) && !json_is_null(desc)) {
            rc = err_set(e, ERR_BAD_REQUEST, "tools[%zu].description must be a string", i);
            break;
        }
        params = json_object_get(fn, pkey);
        if (anthropic && !params) {
            rc = err_set(e, ERR_BAD_REQUEST, "tools[%zu].input_schema is required", i);
            break;
        }
        if (params && !json_is_object(params) && !json_is_null(params)) {
            rc = err_set(e, ERR_BAD_REQUEST, "tools[%zu].%s must be a JSON schema object", i, pkey);
            break;
        }
        json_t *f = json_object();
        json_object_set_new(f, "name", json_string(name));
        if (json_is_string(desc))
            json_object_set(f, "description", desc);
        json_object_set_new(f, "parameters",
                            json_is_object(params)
                                ? json_deep_copy(params)
                                : json_pack("{s:s,s:{}}", "type", "object", "properties"));
        json_array_append_new(out, json_pack("{s:s,s:o}", "type", "function", "function", f));
    }
    if (!rc) {
        char *s = json_dumps(out, JSON_COMPACT);
        if (!s || strlen(s) > TOOLS_MAX_BYTES)
            rc =
                err_set(e, ERR_TOO_LARGE, "the tools take more than %u KiB", TOOLS_MAX_BYTES >> 10);
        free(s);
    }
    if (rc) {
        json_decref(out);
        return rc;
    }
    json_decref(req->tools);
    req->tools = out;
    return 0;
}

static int has_tool(const struct native_req *req, const char *name)
{
    size_t i;
    json_t *t;
    json_array_foreach(req->tools, i, t)
    {
        const char *n = json_string_value(json_object_get(json_object_get(t, "function"), "name"));
        if (n && !strcmp(n, name))
            return 1;
    }
    return 0;
}

static int force(struct native_req *req, const char *name, struct err *e)
{
    if (!json_array_size(req->tools))
        return err_set(e, ERR_BAD_REQUEST,
                       "tool_choice forces a tool call, but no tools are given");
    if (name) {
        if (!valid_name(name) || !has_tool(req, name))
            return err_set(e, ERR_BAD_REQUEST,
                           "tool_choice names the function '%s', which is not among the tools",
                           name);
        snprintf(req->tool_name, sizeof req->tool_name, "%s", name);
        req->tool_choice = API_TOOLS_FUNCTION;
    } else {
        req->tool_choice = API_TOOLS_REQUIRED;
    }
    return 0;
}

int api_tool_choice_openai(struct native_req *req, json_t *choice, json_t *parallel, struct err *e)
{
    if (parallel && !json_is_null(parallel)) {
        if (!json_is_boolean(parallel))
            return err_set(e, ERR_BAD_REQUEST, "parallel_tool_calls must be true or false");
        req->parallel_tool_calls = json_is_true(parallel);
    }
    if (!choice || json_is_null(choice))
        return 0;
    if (json_is_string(choice)) {
        const char *c = json_string_value(choice);
        if (!strcmp(c, "auto"))
            req->tool_choice = API_TOOLS_AUTO;
        else if (!strcmp(c, "none"))
            req->tool_choice = API_TOOLS_NONE;
        else if (!strcmp(c, "required"))
            return force(req, NULL, e);
        else
            return err_set(e, ERR_BAD_REQUEST,
                           "tool_choice must be \"none\", \"auto\", \"required\" or "
                           "{\"type\": \"function\", \"function\": {\"name\": ...}}");
        return 0;
    }
    const char *type = json_string_value(json_object_get(choice, "type"));
    const char *name =
        json_string_value(json_object_get(json_object_get(choice, "function"), "name"));
    if (!json_is_object(choice) || !type || strcmp(type, "function") != 0 || !name)
        return err_set(e, ERR_BAD_REQUEST,
                       "tool_choice must be \"none\", \"auto\", \"required\" or "
                       "{\"type\": \"function\", \"function\": {\"name\": ...}}");
    return force(req, name, e);
}

int api_tool_choice_anthropic(struct native_req *req, json_t *choice, struct err *e)
{
    if (!choice || json_is_null(choice))
        return 0;
    const char *type = json_string_value(json_object_get(choice, "type"));
    if (!json_is_object(choice) || !type)
        return err_set(e, ERR_BAD_REQUEST, "tool_choice: must be an object with a type");
    json_t *dp = json_object_get(choice, "disable_parallel_tool_use");
    if (dp && !json_is_boolean(dp))
        return err_set(e, ERR_BAD_REQUEST,
                       "tool_choice.disable_parallel_tool_use: must be true or false");
    if (json_is_true(dp))
        req->parallel_tool_calls = 0;
    if (!strcmp(type, "auto"))
        return 0;
    if (!strcmp(type, "none")) {
        req->tool_choice = API_TOOLS_NONE;
        return 0;
    }
    if (!strcmp(type, "any"))
        return force(req, NULL, e);
    if (!strcmp(type, "tool")) {
        const char *name = json_string_value(json_object_get(choice, "name"));
        if (!name)
            return err_set(e, ERR_BAD_REQUEST, "tool_choice.name: required for type \"tool\"");
        return force(req, name, e);
    }
    return err_set(e, ERR_BAD_REQUEST,
                   "tool_choice.type: must be \"auto\", \"any\", \"tool\" or \"none\"");
}

static int set_level(struct native_req *req, const char *level, const char *field, struct err *e)
{
    if (!strcmp(level, "low") || !strcmp(level, "medium") || !strcmp(level, "high")) {
        req->think = 1;
        snprintf(req->think_level, sizeof req->think_level, "%s", level);
        return 0;
    }
    if (!strcmp(level, "none")) {
        req->think = 0;
        return 0;
    }
    if (!strcmp(level, "minimal")) {
        req->think = 1;
        snprintf(req->think_level, sizeof req->think_level, "low");
        return 0;
    }
    return err_set(e, ERR_BAD_REQUEST, "%s must be \"low\", \"medium\" or \"high\", not '%s'",
                   field, level);
}

int api_think_set(struct native_req *req, json_t *think, struct err *e)
{
    if (!think || json_is_null(think))
        return 0;
    if (json_is_boolean(think)) {
        req->think = json_is_true(think);
        return 0;
    }
    if (json_is_string(think))
        return set_level(req, json_string_value(think), "think", e);
    return err_set(e, ERR_BAD_REQUEST,
                   "think must be true, false, \"low\", \"medium\" or \"high\"");
}

int api_reasoning_openai(struct native_req *req, json_t *effort, json_t *kwargs, struct err *e)
{
    if (effort && !json_is_null(effort)) {
        if (!json_is_string(effort))
            return err_set(e, ERR_BAD_REQUEST, "reasoning_effort must be a string");
        int rc = set_level(req, json_string_value(effort), "reasoning_effort", e);
        if (rc)
            return rc;
    }
    if (!kwargs || json_is_null(kwargs))
        return 0;
    if (!json_is_object(kwargs))
        return err_set(e, ERR_BAD_REQUEST, "chat_template_kwargs must be an object");
    if (json_object_size(kwargs) > KWARGS_MAX)
        return err_set(e, ERR_TOO_LARGE, "at most %d chat_template_kwargs", KWARGS_MAX);
    json_t *et = json_object_get(kwargs, "enable_thinking");
    if (et && !json_is_boolean(et))
        return err_set(e, ERR_BAD_REQUEST,
                       "chat_template_kwargs.enable_thinking must be a boolean");
    json_decref(req->kwargs);
    req->kwargs = json_deep_copy(kwargs);
    if (et)
        req->think = json_is_true(et);
    return 0;
}

int api_tool_calls_in(json_t *calls, json_t *m, const char *where, struct err *e)
{
    if (!calls || json_is_null(calls))
        return 0;
    if (!json_is_array(calls))
        return err_set(e, ERR_BAD_REQUEST, "%s.tool_calls must be a list", where);
    if (json_array_size(calls) > TOOL_CALLS_MAX)
        return err_set(e, ERR_TOO_LARGE, "%s: at most %d tool calls", where, TOOL_CALLS_MAX);
    json_t *out = json_object_get(m, "tool_calls");
    if (!out) {
        out = json_array();
        json_object_set_new(m, "tool_calls", out);
    }
    size_t i;
    json_t *c;
    json_array_foreach(calls, i, c)
    {
        json_t *fn = json_object_get(c, "function");
        const char *name = json_string_value(json_object_get(fn, "name"));
        if (!json_is_object(c) || !json_is_object(fn) || !valid_name(name))
            return err_set(e, ERR_BAD_REQUEST, "%s.tool_calls[%zu].function needs a valid name",
                           where, i);
        json_t *a = json_object_get(fn, "arguments"), *args = NULL;
        if (!a || json_is_null(a))
            args = json_object();
        else if (json_is_object(a))
            args = json_incref(a);
        else if (json_is_string(a))
            args = json_loads(json_string_value(a), JSON_REJECT_DUPLICATES, NULL);
        if (!json_is_object(args)) {
            json_decref(args);
            return err_set(e, ERR_BAD_REQUEST,
                           "%s.tool_calls[%zu].function.arguments must be a JSON object (or a "
                           "string holding one)",
                           where, i);
        }
        const char *id = json_string_value(json_object_get(c, "id"));
        char made[32];
        if (!id) {
            snprintf(made, sizeof made, "call_%zu", i);
            id = made;
        }
        json_array_append_new(out, json_pack("{s:s,s:s,s:{s:s,s:o}}", "id", id, "type", "function",
                                             "function", "name", name, "arguments", args));
    }
    return 0;
}
