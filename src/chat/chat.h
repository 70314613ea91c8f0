/* Chat prompts: a conversation rendered through a model's chat template, and the model's output
 * parsed back into content, reasoning and tool calls.
 *
 * The conversation reaches this module in one canonical shape, whatever API it came from (the
 * shape Hugging Face's transformers hands to chat templates, which is OpenAI's):
 *
 *   messages: [{ "role": "system" | "user" | "assistant" | "tool",
 *                "content": string | null,
 *                "reasoning_content": string,              (assistant; optional)
 *                "tool_calls": [{ "id": string, "type": "function",
 *                                 "function": { "name": string,
 *                                               "arguments": object } }],  (assistant; optional)
 *                "tool_call_id": string, "name": string }]  (tool results; optional)
 *   tools:    [{ "type": "function",
 *                "function": { "name", "description", "parameters": JSON schema } }]
 *
 * The API layer converts its protocol's messages into this shape (Anthropic's tool_use and
 * tool_result blocks, Ollama's `thinking` and object arguments...) and never passes anything
 * else; chat/ knows no protocol. Tool-call arguments are objects here; templates that expect a
 * JSON string get one from the renderer.
 */
#ifndef HEARTH_CHAT_CHAT_H
#define HEARTH_CHAT_CHAT_H

#include "base/err.h"

#include <jansson.h>
#include <stddef.h>

struct chat_input {
    json_t *messages; /* canonical messages (borrowed); never NULL */
    json_t *tools;    /* canonical tools (borrowed), or NULL for none */
    json_t *kwargs;   /* chat_template_kwargs, an object (borrowed), or NULL: extra template
                         variables such as enable_thinking */
    int add_generation_prompt;
    const char *bos_token; /* the model's BOS and EOS token text, or NULL for "" */
    const char *eos_token;
};

/* Renders in through the Jinja template text tmpl (chat/jinja.h) with the variables Hugging
 * Face's transformers gives a chat template: messages, tools (only when in->tools is not NULL),
 * add_generation_prompt, bos_token, eos_token, and every key of in->kwargs. Tool-call arguments
 * reach the template as objects; a template that prints them as they come (it expects OpenAI's
 * JSON string, and would print Python's repr of the object) gets them as JSON text instead.
 * tmpl may also be the name of one of llama.cpp's built-in formats ("chatml", "llama3"...), as
 * llama-server's --chat-template accepts: that renders through chat_render_builtin.
 * Returns 0 and a malloc'd string in *out, or ERR_BAD_REQUEST with the message and template
 * line of a template that fails, raises or runs past one of the engine's caps. */
int chat_render(const char *tmpl, const struct chat_input *in, char **out, struct err *e);

/* Renders through llama.h's built-in chat formats (llama_chat_apply_template): tmpl is a
 * format's name ("chatml", "llama3", ...) or a template text whose family llama.cpp recognises
 * by its tokens (used for Ollama's Go templates, which are not Jinja). Contents only: no tools,
 * no tool calls. Same returns as chat_render; ERR_BAD_REQUEST when no family matches. */
int chat_render_builtin(const char *tmpl, const struct chat_input *in, char **out, struct err *e);

/* The plain format for a model with no template at all (README "Chat templates"):
 *   "System: ...\n\nUser: ...\n\nAssistant: ...\n\n" ... and "Assistant:" when
 * add_generation_prompt. Returns 0, or ERR_TOO_LARGE. */
int chat_render_plain(const struct chat_input *in, char **out, struct err *e);

#endif
