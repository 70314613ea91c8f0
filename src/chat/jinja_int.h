/* The Jinja engine's internals, shared by its files (jinja_lex.c, jinja_parse.c, jinja_value.c,
 * jinja_eval.c, jinja_builtins.c) and by nothing else.
 *
 * Every allocation of one render comes from its arena (struct jctx), freed at once at the end;
 * errors unwind with longjmp to jinja_render, which is safe because nothing but the arena owns
 * memory. Values are small structs passed by value; strings, lists and dicts point into the
 * arena and are never freed one by one.
 */
#ifndef HEARTH_CHAT_JINJA_INT_H
#define HEARTH_CHAT_JINJA_INT_H

#include "chat/jinja.h"

#include <setjmp.h>
#include <stdint.h>

struct jctx;

enum jv_kind {
    JV_UNDEF,
    JV_NONE,
    JV_BOOL,
    JV_INT,
    JV_FLOAT,
    JV_STR,
    JV_LIST, /* also tuples (tuple flag) */
    JV_DICT,
    JV_NS,    /* namespace(): a dict whose attributes may be assigned */
    JV_MACRO, /* a macro, or the caller of a call block */
    JV_FUNC,  /* a builtin: a global function or a bound method */
    JV_LOOP,  /* the `loop` variable of a for loop */
};

struct jlist {
    struct jv *v;
    size_t n, cap;
};

struct jdict {
    struct jv *k, *v;
    size_t n, cap;
};

struct jv {
    enum jv_kind k;
    int tuple; /* JV_LIST: printed with parentheses */
    int safe;  /* JV_STR: a Markup string (|safe, |e): `+` escapes what joins it */
    int gen;   /* JV_LIST: a Python generator (map, select...): no len(), not JSON, always true */
    union {
        int b;
        int64_t i;
        double f;
        struct {
            const char *p; /* JV_STR: the bytes; JV_UNDEF: the name, or NULL */
            size_t n;
        } s;
        struct jlist *l;
        struct jdict *d;
        struct jmacro *m;
        struct jfunc *fn;
        struct jloop *loop;
    } u;
};

/* A growing string in the arena, capped at max_output (the arena makes it safe to unwind). */
struct jsb {
    char *data;
    size_t len, cap;
};

/* ---- the syntax tree ---- */
enum jn_kind {
    /* statements */
    JN_BODY,  /* kids: statements */
    JN_TEXT,  /* val: the text */
    JN_OUT,   /* a: expression */
    JN_IF,    /* a: condition, b: body, c: else body (or NULL) */
    JN_FOR,   /* a: target (NAME or TUPLE), b: iterable, c: body, d: else body, e: filter */
    JN_SET,   /* a: target (NAME, TUPLE or ATTR), b: value */
    JN_SETB,  /* a: target, c: body, e: filter node (input NULL) or NULL */
    JN_MACRO, /* val: name, names/kids: parameters and defaults, c: body, op: JM_* */
    JN_CALLB, /* a: the call, names/kids: caller parameters, c: body, op: JM_* */
    JN_FILTB, /* e: filter chain (innermost input NULL), c: body */
    JN_BREAK,
    JN_CONTINUE,
    /* expressions */
    JN_CONST,   /* val */
    JN_NAME,    /* val: the name */
    JN_LIST,    /* kids */
    JN_TUPLE,   /* kids */
    JN_DICT,    /* kids: key, value, key, value... */
    JN_ATTR,    /* a: object, val: attribute name */
    JN_ITEM,    /* a: object, b: index */
    JN_SLICE,   /* a: start, b: stop, c: step (each may be NULL) */
    JN_CALL,    /* a: callee, kids: arguments, names: keyword names (NULL: positional) */
    JN_FILTER,  /* a: input (NULL inside filter blocks), val: name, kids/names: arguments */
    JN_TEST,    /* a: input, val: name, kids/names: arguments, op: negated */
    JN_UNARY,   /* op: 'n' not, '-', '+'; a */
    JN_BINOP,   /* op: '+', '-', '*', '/', 'f' (//), '%', 'p' (**), '~'; a, b */
    JN_COMPARE, /* a: first operand, kids: further operands, ops: operators */
    JN_AND,     /* a, b */
    JN_OR,      /* a, b */
    JN_COND,    /* a: value, b: condition, c: else value (or NULL) */
};

/* What a macro's body refers to (JN_MACRO.op): only then does it take a caller, extra positional
 * arguments (varargs) or extra keyword arguments (kwargs), as in jinja2. */
enum { JM_CALLER = 1, JM_VARARGS = 2, JM_KWARGS = 4 };

/* Comparison operators in JN_COMPARE.ops */
enum { JC_EQ = 1, JC_NE, JC_LT, JC_LE, JC_GT, JC_GE, JC_IN, JC_NOTIN };

struct jnode {
    enum jn_kind kind;
    int line;
    int op;
    struct jv val;
    struct jnode *a, *b, *c, *d, *e;
    struct jnode **kids;
    const char **names;
    int *ops;
    size_t n;
};

struct jmacro {
    const struct jnode *node; /* JN_MACRO, or JN_CALLB for a caller */
    struct jframe *scope;     /* where it was defined */
    struct jv caller;         /* the caller passed to it, or undefined */
};

struct jfunc {
    const char *name;
    struct jv self; /* the bound object for methods; undefined for globals */
};

struct jloop {
    struct jlist *items;
    size_t i;
    struct jv last_changed;
    int changed_set;
};

/* ---- tokens ---- */
enum jt_kind {
    JT_EOF,
    JT_TEXT,
    JT_VAR_BEGIN,
    JT_VAR_END,
    JT_BLOCK_BEGIN,
    JT_BLOCK_END,
    JT_NAME,
    JT_STRING,
    JT_INT,
    JT_FLOAT,
    JT_OP,
};

struct jtok {
    enum jt_kind k;
    int line;
    const char *s; /* JT_TEXT, JT_NAME, JT_STRING: the (decoded) text */
    size_t n;
    int64_t i;
    double f;
    char op[4];
};

/* ---- the render state ---- */
struct jchunk;

struct jframe {
    struct jframe *parent;
    struct jdict vars;
    int captured; /* a macro or caller keeps it: a loop may not reuse it */
};

struct jctx {
    jmp_buf jmp;
    struct err *e;
    int err_code;
    struct jinja_limits lim;
    struct jchunk *chunks;
    size_t mem_used;
    /* lexer output */
    struct jtok *toks;
    size_t ntoks, tcap, tpos;
    size_t nodes;
    int pdepth;     /* parser recursion */
    int soft;       /* inside if/else: unknown filters fail only when run, as in jinja2 */
    int json_ascii; /* tojson(ensure_ascii=True) in progress */
    /* interpreter */
    struct jframe *root;
    long iterations;
    int depth;
    int cur_line;
    int in_loop;
    int brk;              /* 1 break, 2 continue pending */
    struct jframe *frame; /* the scope statements run in */
    struct jv fin;        /* the input of a filter block's filters */
};

/* Fails the render: formats the message with the line and unwinds. */
void jx_fail(struct jctx *c, int line, const char *fmt, ...)
    __attribute__((noreturn, format(printf, 3, 4)));
void jx_fail_code(struct jctx *c, int code, int line, const char *fmt, ...)
    __attribute__((noreturn, format(printf, 4, 5)));
void *jx_alloc(struct jctx *c, size_t n);
char *jx_strndup(struct jctx *c, const char *s, size_t n);

/* jinja_lex.c: fills c->toks from the template */
void jx_lex(struct jctx *c, const char *src, size_t len);
/* jinja_parse.c: the template's body */
struct jnode *jx_parse(struct jctx *c);
int jx_filter_known(const char *name);
int jx_test_known(const char *name);

/* jinja_value.c */
struct jv jv_undef(const char *name);
struct jv jv_none(void);
struct jv jv_bool(int b);
struct jv jv_int(int64_t i);
struct jv jv_float(double f);
struct jv jv_str(struct jctx *c, const char *p, size_t n); /* copies */
struct jv jv_strz(const char *p);                          /* borrows a static string */
struct jv jv_strb(const char *p, size_t n);                /* borrows */
struct jv jv_list(struct jctx *c, size_t cap);
struct jv jv_dict(struct jctx *c);
void jl_push(struct jctx *c, struct jlist *l, struct jv v);
void jd_set(struct jctx *c, struct jdict *d, struct jv k, struct jv v);
struct jv *jd_get(struct jdict *d, struct jv k);
struct jv *jd_gets(struct jdict *d, const char *k);
struct jv jv_from_json(struct jctx *c, json_t *j, int depth);
int jv_truthy(struct jv v);
int jv_eq(struct jv a, struct jv b);
int jv_cmp(struct jctx *c, int line, struct jv a,
           struct jv b); /* <0, 0, >0; fails when unordered */
const char *jv_type_name(struct jv v);
int jv_is_str(struct jv v, const char *s);
/* str() and repr() as Python prints them, appended to b */
void jv_print(struct jctx *c, struct jsb *b, struct jv v, int repr);
struct jv jv_to_str(struct jctx *c, struct jv v);
void jv_fmt_float(char *out, size_t cap, double f);
/* json.dumps(v, ensure_ascii=False, indent, separators, sort_keys) */
void jv_tojson(struct jctx *c, int line, struct jsb *b, struct jv v, int indent,
               const char *item_sep, const char *key_sep, int sort_keys, int level);
void jx_put(struct jctx *c, struct jsb *b, const char *p, size_t n);
void jx_buf(struct jctx *c, struct jsb *b);          /* a buffer capped at max_output */
struct jv jx_buf_str(struct jctx *c, struct jsb *b); /* copies into the arena and frees */
/* UTF-8: the number of code points, and the byte offset of code point i */
size_t ju_len(const char *p, size_t n);
size_t ju_off(const char *p, size_t n, size_t i);
/* The list a value iterates as (dict: keys, string: characters); fails if not iterable */
struct jlist *jv_iter(struct jctx *c, int line, struct jv v);

/* jinja_eval.c */
struct jv jx_eval(struct jctx *c, const struct jnode *n);
struct jv jx_html_escape(struct jctx *c, struct jv s);
struct jv jx_call_value(struct jctx *c, int line, struct jv f, struct jv *args, const char **names,
                        size_t n);
struct jv jx_getattr(struct jctx *c, int line, struct jv obj, struct jv key, int subscript);

/* jinja_builtins.c */
struct jv jx_filter(struct jctx *c, int line, const char *name, struct jv in, struct jv *args,
                    const char **names, size_t n);
int jx_test(struct jctx *c, int line, const char *name, struct jv in, struct jv *args, size_t n);
struct jv jx_method(struct jctx *c, int line, struct jfunc *fn, struct jv *args, const char **names,
                    size_t n);
struct jv *jx_arg(struct jv *args, const char **names, size_t n, size_t pos, const char *name);

/* jinja_str.c: Python's methods, and string operations filters share with them */
struct jv jx_method(struct jctx *c, int line, struct jfunc *fn, struct jv *args, const char **names,
                    size_t n);
int jx_has_method(struct jv self, const char *name);
int jx_method_unsafe(const char *name); /* a method jinja2's sandbox refuses (list.append...) */
/* mode: 'u' upper, 'l' lower, 'c' capitalize, 't' str.title(), 'j' jinja's |title */
struct jv jx_case(struct jctx *c, struct jv s, int mode);
int jx_is_space(char ch);
struct jv jx_strip(struct jv s, struct jv *chars, int left, int right);
struct jv jx_replace(struct jctx *c, struct jv s, struct jv old, struct jv new, int64_t count);
struct jv jx_split(struct jctx *c, int line, struct jv s, struct jv *sep, int64_t maxsplit,
                   int from_right);
int jx_affix(struct jv s, struct jv x, int end);
/* str.format (percent 0) and the % operator (percent 1) */
struct jv jx_format(struct jctx *c, int line, struct jv fmt, struct jv *args, const char **names,
                    size_t n, int percent);

#endif
