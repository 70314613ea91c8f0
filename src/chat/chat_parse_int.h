/* Inside the output parser (chat_parse.c: the state machine; chat_calls.c: deltas, totals and
 * reading the calls of each family). Not for use outside src/chat/. */
#ifndef HEARTH_CHAT_CHAT_PARSE_INT_H
#define HEARTH_CHAT_CHAT_PARSE_INT_H

#include "base/buf.h"
#include "chat/chat_parse.h"

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#define BODY_MAX     (1u << 20)  /* a tool call longer than this is returned as text */
#define HEADER_MAX   512         /* a harmony message header */
#define TEXT_MAX     (64u << 20) /* totals kept for whole replies */
#define NAME_MAX_LEN 256

enum state { S_START, S_TEXT, S_BODY, S_HEADER };

enum body_kind {
    B_HERMES,       /* ... </tool_call> */
    B_PYTHON_TAG,   /* <|python_tag|> JSON call or code, to the end */
    B_JSON,         /* a bare JSON value at the start of the output */
    B_MISTRAL,      /* [TOOL_CALLS] array, or name[ARGS]{...} */
    B_DEEPSEEK,     /* ... <｜tool▁calls▁end｜> */
    B_DEEPSEEK_ONE, /* ... <｜tool▁call▁end｜> */
    B_FUNCTION,     /* <function= name>{...} </function> */
    B_V32,          /* name\n{...} or all\n */
    B_HARMONY_CALL, /* {...} <|call|> */
};

#define DS_CALLS_BEGIN                                                                             \
    "<\xef\xbd\x9ctool\xe2\x96\x81"                                                                \
    "calls\xe2\x96\x81"                                                                            \
    "begin\xef\xbd\x9c>"
#define DS_CALLS_END                                                                               \
    "<\xef\xbd\x9ctool\xe2\x96\x81"                                                                \
    "calls\xe2\x96\x81"                                                                            \
    "end\xef\xbd\x9c>"
#define DS_CALL_BEGIN                                                                              \
    "<\xef\xbd\x9ctool\xe2\x96\x81"                                                                \
    "call\xe2\x96\x81"                                                                             \
    "begin\xef\xbd\x9c>"
#define DS_CALL_END                                                                                \
    "<\xef\xbd\x9ctool\xe2\x96\x81"                                                                \
    "call\xe2\x96\x81"                                                                             \
    "end\xef\xbd\x9c>"
#define DS_SEP                                                                                     \
    "<\xef\xbd\x9ctool\xe2\x96\x81"                                                                \
    "sep\xef\xbd\x9c>"

struct chat_parser {
    struct chat_parse_opts o;
    enum state st;
    int think_ok; /* START: a think tag may still open */
    int in_think; /* TEXT is reasoning (a think tag is open) */
    int h_reason; /* harmony: the open message is the analysis channel */
    enum body_kind body;
    char h_name[NAME_MAX_LEN + 1]; /* harmony: the function a commentary message calls */
    struct buf pend;               /* bytes not decided yet */
    struct buf opener; /* the marker that opened BODY or HEADER (given back if malformed) */
    int c_started, r_started;
    struct buf c_ws, r_ws; /* blanks held until more text follows */
    struct buf content, reasoning;
    json_t *calls, *warnings;
    /* This step's deltas: text offsets into scratch, resolved when the step ends. */
    struct chat_delta *d;
    size_t *d_off, *d_id, *d_name, *d_args;
    size_t nd, capd;
    struct buf scratch;
};

struct chat_delta *chatp_new_delta(struct chat_parser *p, enum chat_delta_kind k);
void chatp_out_text(struct chat_parser *p, enum chat_delta_kind k, const char *s, size_t n);
int chatp_blank(char c);
void chatp_emit_text(struct chat_parser *p, enum chat_delta_kind k, const char *s, size_t n);
void chatp_warn(struct chat_parser *p, const char *why);
void chatp_add_call(struct chat_parser *p, const char *name, json_t *args, const char *id);
long chatp_json_extent(const char *s, size_t n);
json_t *chatp_parse_json(const char *s, size_t n);
const char *chatp_take_call_obj(struct chat_parser *p, json_t *o);
const char *chatp_take_call_list(struct chat_parser *p, json_t *arr);
const char *chatp_take_json_call(struct chat_parser *p, const char *s, size_t n);
const char *chatp_take_named(struct chat_parser *p, const char *name, size_t name_len,
                             const char *args, size_t args_len);
const char *chatp_find(const char *s, size_t n, const char *m);
const char *chatp_take_deepseek_one(struct chat_parser *p, const char *s, size_t n);
const char *chatp_take_deepseek(struct chat_parser *p, const char *s, size_t n);
const char *chatp_take_python_tag(struct chat_parser *p, const char *s, size_t n);
int chatp_take_bare_json(struct chat_parser *p, const char *s, size_t n, const char **why);

#endif
