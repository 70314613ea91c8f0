/* Ollama's Modelfile, parsed into native fields (the format of Ollama's parser/parser.go).
 *
 *   # a comment (only at the start of a line)
 *   FROM llama3.2                  required, once: a path, a model name or a sha256 digest
 *   PARAMETER temperature 0.2      a name of hearth's params table (engine/params.h); the
 *   PARAMETER stop "<|end|>"       value is checked there; list parameters (stop) repeat
 *   TEMPLATE """{{ .Prompt }}"""   a Go template (Ollama's) or a Jinja chat template
 *   SYSTEM You are terse.
 *   ADAPTER ./lora.gguf            a LoRA adapter (a path or a digest)
 *   LICENSE """MIT ..."""          may repeat
 *   MESSAGE user Hello             few-shot messages: role system, user or assistant
 *   REQUIRES 0.5.0                 the Ollama version the model needs (semver), kept
 *
 * Instructions are case-insensitive. A value is the rest of the line, trimmed; a value that
 * starts with `"` or `"""` runs, across lines, to the line that ends with the same quote, and
 * the quotes are removed (no escapes, as in Ollama). DRAFT, RENDERER and PARSER are Ollama
 * instructions hearth cannot honour (a draft model for speculative decoding, Ollama's built-in
 * Go renderers and parsers): they are errors that say so, never dropped.
 *
 * Every error names the line: "line 7: unknown instruction 'FORM'".
 *
 * Thread-safe: no state.
 */
#ifndef HEARTH_STORE_MODELFILE_H
#define HEARTH_STORE_MODELFILE_H

#include "base/err.h"
#include "engine/params.h"

#include <stddef.h>

#define MODELFILE_MAX_SIZE     (1u << 20)   /* bytes of a Modelfile */
#define MODELFILE_MAX_COMMANDS 1024         /* instructions in one file */
#define MODELFILE_MAX_VALUE    (512u << 10) /* bytes of one value (a template, a license) */
#define MODELFILE_MAX_MESSAGES 256

struct modelfile_message {
    char role[16]; /* "system", "user" or "assistant" */
    char *content; /* owned */
};

struct modelfile {
    char *from;          /* owned; never NULL after a successful parse */
    int from_line;       /* for messages about FROM */
    char *template_text; /* owned, or NULL */
    int template_is_go;  /* template_text is Ollama's Go template ({{ .Prompt }}) */
    char *system;        /* owned, or NULL */
    char *adapter;       /* owned, or NULL */
    char *requires;      /* owned, or NULL: a semver without the leading 'v' */
    struct strlist licenses;
    struct strlist params; /* "name=value" with the table's canonical names; lists repeat */
    struct modelfile_message *messages; /* owned */
    int n_messages;
};

/* Parses text (len bytes; NUL bytes are refused). Returns 0 and fills *out (free it with
 * modelfile_free, also after a failure), or ERR_BAD_REQUEST / ERR_TOO_LARGE with e naming the
 * line and the problem. */
int modelfile_parse(const char *text, size_t len, struct modelfile *out, struct err *e);
void modelfile_free(struct modelfile *m); /* NULL-safe; leaves *m zeroed */

/* 1 when a template is Ollama's Go template rather than Jinja: it has no Jinja block ("{%")
 * and some action begins with a field (".Prompt", "$") or a Go keyword (if, range, end...). */
int modelfile_template_is_go(const char *t);

/* Checks a role as MESSAGE and /api/create's messages take it. */
int modelfile_role_valid(const char *role);

/* Checks one PARAMETER (name, value) against the params table and, for a non-list parameter,
 * that params does not already hold it. Appends "canonical=value" to params. Returns 0 or
 * ERR_BAD_REQUEST naming the parameter (no line: the caller adds it). */
int modelfile_add_param(struct strlist *params, const char *name, const char *value, struct err *e);

#endif
