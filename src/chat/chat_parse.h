/* Model output parsed back into content, reasoning and tool calls.
 *
 * Every model family writes tool calls and reasoning its own way; the family (the "syntax") is
 * detected from the chat template's text (chat_syntax_detect) or named by a preset
 * (chat_syntax_from_name). A parser is fed the generated text piece by piece, as the worker
 * streams it, and after each piece hands out deltas: content, reasoning, or one complete tool
 * call. It holds back only the bytes that might still start a marker (`<tool_call>`, `</think>`,
 * `[TOOL_CALLS]`...) and the body of a tool call until the call is complete, so the content a
 * client sees is never late by more than a marker's length. The result does not depend on how
 * the text was split: fed whole or one byte at a time, the content, reasoning and tool calls are
 * the same.
 *
 * A call the model wrote badly (JSON that does not parse, no name) is never an error: its text
 * becomes content and a warning says why.
 *
 * A parser belongs to one generation and one thread; deltas and the strings they point at stay
 * valid until the next chat_parser_feed / chat_parser_finish / chat_parser_free.
 */
#ifndef HEARTH_CHAT_CHAT_PARSE_H
#define HEARTH_CHAT_CHAT_PARSE_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

enum chat_syntax {
    CHAT_SYNTAX_NONE,    /* no tool calls: text is content (reasoning is still split) */
    CHAT_SYNTAX_HERMES,  /* <tool_call>{"name":..,"arguments":{..}}</tool_call> (Hermes, Qwen) */
    CHAT_SYNTAX_LLAMA3,  /* {"name":..,"parameters":{..}} as the output, or <|python_tag|> */
    CHAT_SYNTAX_MISTRAL, /* [TOOL_CALLS][{"name","arguments","id"}] or [TOOL_CALLS]f[ARGS]{} */
    CHAT_SYNTAX_DEEPSEEK, /* <｜tool▁calls▁begin｜><｜tool▁call▁begin｜>...<｜tool▁sep｜>... */
    CHAT_SYNTAX_FUNCTIONARY,     /* <function=name>{..}</function> (Functionary v3.1, Llama 3.1) */
    CHAT_SYNTAX_FUNCTIONARY_V32, /* name\n{..} then >>>name\n{..}; "all\n" is content */
    CHAT_SYNTAX_GENERIC,         /* {"tool_call":{..}} / {"tool_calls":[..]} / {"response":..} */
    CHAT_SYNTAX_HARMONY,         /* GPT-OSS: <|channel|>analysis|commentary|final<|message|>... */
};
#define CHAT_SYNTAX_COUNT 9

/* The syntax the template text writes tool calls in (NULL or "": CHAT_SYNTAX_NONE). A template
 * that mentions tools in no format recognised here gets CHAT_SYNTAX_GENERIC. */
enum chat_syntax chat_syntax_detect(const char *tmpl);

/* The name of a syntax as presets and the README write it ("hermes", "llama3", "mistral",
 * "deepseek", "functionary", "functionary-v3.2", "generic", "harmony", "none"). */
const char *chat_syntax_name(enum chat_syntax s);
/* The syntax named name (case-sensitive), or -1 when there is none. */
int chat_syntax_from_name(const char *name);

/* Whether the syntax writes its markers as special (control) tokens, which the worker must then
 * render into the text (PROTO_GEN_RENDER_SPECIAL). */
int chat_syntax_needs_special(enum chat_syntax s);

/* Whether a rendered prompt leaves the model inside its reasoning: it ends with an opening think
 * tag (Qwen3 and DeepSeek-R1 templates open <think> in the generation prompt). */
int chat_prompt_opens_reasoning(const char *prompt);

enum chat_delta_kind { CHAT_DELTA_CONTENT, CHAT_DELTA_REASONING, CHAT_DELTA_TOOL_CALL };

struct chat_delta {
    enum chat_delta_kind kind;
    const char *text; /* CONTENT, REASONING: the new text (not NUL-terminated: use len) */
    size_t len;
    /* TOOL_CALL: one complete call. */
    int index;             /* 0, 1, 2... in the order the model wrote them */
    const char *id;        /* the model's id (Mistral) or one made up ("call_...") */
    const char *name;      /* the function name */
    const char *arguments; /* a JSON object, as compact text */
};

struct chat_parse_opts {
    enum chat_syntax syntax;
    int tools;           /* parse tool calls (the request has tools); 0: all text is content */
    int in_reasoning;    /* the prompt opened the think tag: output starts inside reasoning */
    int split_reasoning; /* split <think>...</think> off the content (else it stays content) */
    uint64_t id_seed;    /* seeds the made-up tool-call ids */
};

struct chat_parser;

struct chat_parser *chat_parser_new(const struct chat_parse_opts *o);
void chat_parser_free(struct chat_parser *p); /* NULL-safe */

/* Feeds the next piece of generated text; then chat_parser_deltas lists what it released. */
void chat_parser_feed(struct chat_parser *p, const char *text, size_t len);
/* The end of the output: releases everything held; a tool call left open is tried as it is. */
void chat_parser_finish(struct chat_parser *p);
const struct chat_delta *chat_parser_deltas(const struct chat_parser *p, size_t *n);

/* Totals so far (owned by the parser): all content, all reasoning, and the complete tool calls
 * in chat.h's canonical shape [{id, type:"function", function:{name, arguments: object}}]. */
const char *chat_parser_content(const struct chat_parser *p, size_t *len);
const char *chat_parser_reasoning(const struct chat_parser *p, size_t *len);
json_t *chat_parser_tool_calls(const struct chat_parser *p);
/* Warnings (an array of strings): calls that came back as text, and why. */
json_t *chat_parser_warnings(const struct chat_parser *p);

/* ---- tool_choice enforced with a grammar (chat_syntax.c) ---- */

struct err;

/* Turns a JSON schema into GBNF rules all named prefix..., the root rule <prefix>root (malloc'd
 * in *out): src/grammar/'s grammar_from_schema has this shape. chat/ does not depend on
 * grammar/; the API layer passes it in. */
typedef int (*chat_schema_fn)(json_t *schema, const char *prefix, char **out, struct err *e);

/* A GBNF grammar that makes the model answer with tool calls in syntax s: one call (or several
 * when parallel) to any of tools (canonical tools), or to the function named only (NULL: any).
 * Each call's arguments follow its tool's parameters through schema (NULL: any JSON object).
 * When in_reasoning (the prompt opened the think tag) the grammar lets the reasoning finish
 * first. Returns 0 and a malloc'd grammar in *out, or ERR_BAD_REQUEST (a syntax with no
 * tool-call form, an unknown function name, a schema the converter refuses). */
int chat_tool_grammar(enum chat_syntax s, json_t *tools, const char *only, int parallel,
                      int in_reasoning, chat_schema_fn schema, char **out, struct err *e);

#endif
