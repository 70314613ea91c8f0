/* A Jinja2 template engine for chat templates, in C.
 *
 * It renders the subset of Jinja2 that Hugging Face chat templates use, with the settings
 * transformers renders them with (trim_blocks, lstrip_blocks, the loopcontrols extension, no
 * autoescape, the default Undefined, a sandbox that refuses to mutate lists and dicts) and
 * transformers' extras: `tojson` with Python's json.dumps options (ensure_ascii=False, indent,
 * separators, sort_keys), `raise_exception(msg)`, `strftime_now(fmt)` and the `generation` block.
 * Output is byte-for-byte what Python's jinja2 prints: values print as Python prints them
 * (`True`, `None`, `['a', 'b']`, `1.0`), strings index and measure in code points.
 *
 * The engine is a sandbox: a template reaches nothing but the variables it is given (no files,
 * no environment, no imports), and every resource a template can consume is capped (struct
 * jinja_limits). A template that goes past a cap, calls raise_exception, or fails (a syntax
 * error, an unknown filter, an undefined value used as an object...) yields ERR_BAD_REQUEST with a
 * message naming the template line; ERR_TOO_LARGE for the output cap.
 *
 * Thread-safety: jinja_render keeps no global state and may be called from any thread.
 */
#ifndef HEARTH_CHAT_JINJA_H
#define HEARTH_CHAT_JINJA_H

#include "base/err.h"

#include <jansson.h>
#include <stddef.h>

struct jinja_limits {
    size_t max_template; /* bytes of template source */
    size_t max_nodes;    /* syntax-tree nodes */
    size_t max_output;   /* bytes of rendered output (and of any one string built) */
    size_t max_memory;   /* bytes the render may allocate in all */
    long max_iterations; /* loop iterations, all loops together */
    int max_depth;       /* nesting of macro calls, and of expressions while parsing */
};

/* 1 MiB template, 500k nodes, 32 MiB output, 512 MiB memory, 1M iterations, depth 100. */
void jinja_default_limits(struct jinja_limits *lim);

/* Renders tmpl (len bytes, need not be NUL-terminated) with the keys of vars (a JSON object,
 * borrowed; NULL for none) as top-level variables. lim NULL means the defaults. Returns 0 and
 * a malloc'd NUL-terminated string in *out (the caller frees it), or ERR_BAD_REQUEST /
 * ERR_TOO_LARGE with e->msg saying what failed and at which template line. */
int jinja_render(const char *tmpl, size_t len, json_t *vars, const struct jinja_limits *lim,
                 char **out, struct err *e);

#endif
