/* The Jinja parser: tokens to a syntax tree, following jinja2's grammar and operator
 * precedence (jinja2/parser.py). Unknown filters and tests fail here, as jinja2 fails them when
 * it compiles the template. */
#include "chat/jinja_int.h"

#include "base/util.h"

#include <stdio.h>
#include <string.h>

struct vec {
    struct jnode **kids;
    const char **names;
    int *ops;
    size_t n, cap;
};

static void vpush(struct jctx *c, struct vec *v, struct jnode *kid, const char *name, int op)
{
    if (v->n == v->cap) {
        size_t cap = v->cap ? v->cap * 2 : 4;
        struct jnode **k = jx_alloc(c, cap * sizeof(struct jnode *));
        const char **nm = jx_alloc(c, cap * sizeof(const char *));
        int *ops = jx_alloc(c, cap * sizeof(int));
        if (v->n) {
            memcpy(k, v->kids, v->n * sizeof(struct jnode *));
            memcpy(nm, v->names, v->n * sizeof(const char *));
            memcpy(ops, v->ops, v->n * sizeof(int));
        }
        v->kids = k;
        v->names = nm;
        v->ops = ops;
        v->cap = cap;
    }
    v->kids[v->n] = kid;
    v->names[v->n] = name;
    v->ops[v->n] = op;
    v->n++;
}

static void vset(struct jnode *n, struct vec *v)
{
    n->kids = v->kids;
    n->names = v->names;
    n->ops = v->ops;
    n->n = v->n;
}

static struct jtok *cur(struct jctx *c)
{
    return &c->toks[c->tpos];
}

static struct jtok *advance(struct jctx *c)
{
    struct jtok *t = &c->toks[c->tpos];
    if (t->k != JT_EOF)
        c->tpos++;
    return t;
}

static struct jnode *node(struct jctx *c, enum jn_kind k, int line)
{
    if (++c->nodes > c->lim.max_nodes)
        jx_fail_code(c, ERR_TOO_LARGE, line, "the template is too large (more than %zu nodes)",
                     c->lim.max_nodes);
    struct jnode *n = jx_alloc(c, sizeof *n);
    n->kind = k;
    n->line = line;
    return n;
}

static int is_op(struct jtok *t, const char *op)
{
    return t->k == JT_OP && !strcmp(t->op, op);
}

static int is_name(struct jtok *t, const char *nm)
{
    return t->k == JT_NAME && !strcmp(t->s, nm);
}

static const char *tok_desc(struct jtok *t)
{
    switch (t->k) {
    case JT_EOF: return "end of template";
    case JT_TEXT: return "template data";
    case JT_VAR_BEGIN: return "'{{'";
    case JT_VAR_END: return "end of print statement";
    case JT_BLOCK_BEGIN: return "'{%'";
    case JT_BLOCK_END: return "end of statement block";
    case JT_NAME: return t->s;
    case JT_STRING: return "string";
    case JT_INT: return "integer";
    case JT_FLOAT: return "float";
    case JT_OP: return t->op;
    }
    return "token";
}

static void expect_op(struct jctx *c, const char *op)
{
    struct jtok *t = cur(c);
    if (!is_op(t, op))
        jx_fail(c, t->line, "expected '%s', got '%s'", op, tok_desc(t));
    advance(c);
}

static void expect_kind(struct jctx *c, enum jt_kind k, const char *what)
{
    struct jtok *t = cur(c);
    if (t->k != k)
        jx_fail(c, t->line, "expected %s, got '%s'", what, tok_desc(t));
    advance(c);
}

static const char *expect_ident(struct jctx *c)
{
    struct jtok *t = cur(c);
    if (t->k != JT_NAME)
        jx_fail(c, t->line, "expected a name, got '%s'", tok_desc(t));
    advance(c);
    return t->s;
}

static void enter(struct jctx *c, int line)
{
    if (++c->pdepth > c->lim.max_depth * 4)
        jx_fail_code(c, ERR_TOO_LARGE, line, "the template nests too deeply");
}

static struct jnode *parse_expression(struct jctx *c, int with_cond);
static struct jnode *parse_unary(struct jctx *c, int with_filter);
static struct jnode *parse_tuple(struct jctx *c, int with_cond, int explicit_parens);
static struct jnode *parse_postfix(struct jctx *c, struct jnode *n);

static void parse_args(struct jctx *c, struct vec *v)
{
    expect_op(c, "(");
    while (!is_op(cur(c), ")")) {
        if (v->n)
            expect_op(c, ",");
        if (is_op(cur(c), ")"))
            break;
        struct jtok *t = cur(c);
        if (is_op(t, "*") || is_op(t, "**"))
            jx_fail(c, t->line, "*args and **kwargs in calls are not supported");
        if (t->k == JT_NAME && is_op(&c->toks[c->tpos + 1], "=")) {
            advance(c);
            advance(c);
            vpush(c, v, parse_expression(c, 1), t->s, 0);
        } else {
            for (size_t i = 0; i < v->n; i++)
                if (v->names[i])
                    jx_fail(c, t->line, "invalid syntax for function call expression");
            vpush(c, v, parse_expression(c, 1), NULL, 0);
        }
    }
    advance(c);
}

static struct jnode *parse_primary(struct jctx *c)
{
    struct jtok *t = cur(c);
    struct jnode *n;
    enter(c, t->line);
    if (t->k == JT_NAME) {
        advance(c);
        if (!strcmp(t->s, "true") || !strcmp(t->s, "True")) {
            n = node(c, JN_CONST, t->line);
            n->val = jv_bool(1);
        } else if (!strcmp(t->s, "false") || !strcmp(t->s, "False")) {
            n = node(c, JN_CONST, t->line);
            n->val = jv_bool(0);
        } else if (!strcmp(t->s, "none") || !strcmp(t->s, "None")) {
            n = node(c, JN_CONST, t->line);
            n->val = jv_none();
        } else {
            n = node(c, JN_NAME, t->line);
            n->val = jv_strb(t->s, t->n);
        }
    } else if (t->k == JT_STRING) {
        advance(c);
        n = node(c, JN_CONST, t->line);
        if (cur(c)->k != JT_STRING) {
            n->val = jv_strb(t->s, t->n);
        } else {
            struct jsb b;
            jx_buf(c, &b);
            jx_put(c, &b, t->s, t->n);
            while (cur(c)->k == JT_STRING) {
                struct jtok *s = advance(c);
                jx_put(c, &b, s->s, s->n);
            }
            n->val = jx_buf_str(c, &b);
        }
    } else if (t->k == JT_INT || t->k == JT_FLOAT) {
        advance(c);
        n = node(c, JN_CONST, t->line);
        n->val = t->k == JT_INT ? jv_int(t->i) : jv_float(t->f);
    } else if (is_op(t, "(")) {
        advance(c);
        n = parse_tuple(c, 1, 1);
        expect_op(c, ")");
    } else if (is_op(t, "[")) {
        advance(c);
        n = node(c, JN_LIST, t->line);
        struct vec v = {0};
        while (!is_op(cur(c), "]")) {
            if (v.n)
                expect_op(c, ",");
            if (is_op(cur(c), "]"))
                break;
            vpush(c, &v, parse_expression(c, 1), NULL, 0);
        }
        advance(c);
        vset(n, &v);
    } else if (is_op(t, "{")) {
        advance(c);
        n = node(c, JN_DICT, t->line);
        struct vec v = {0};
        while (!is_op(cur(c), "}")) {
            if (v.n)
                expect_op(c, ",");
            if (is_op(cur(c), "}"))
                break;
            vpush(c, &v, parse_expression(c, 1), NULL, 0);
            expect_op(c, ":");
            vpush(c, &v, parse_expression(c, 1), NULL, 0);
        }
        advance(c);
        vset(n, &v);
    } else {
        jx_fail(c, t->line, "unexpected '%s'", tok_desc(t));
    }
    c->pdepth--;
    return n;
}

/* expr, expr, ... as a tuple; one expression without a comma is itself. */
static struct jnode *parse_tuple(struct jctx *c, int with_cond, int explicit_parens)
{
    int line = cur(c)->line;
    struct vec v = {0};
    int comma = 0;
    for (;;) {
        if (v.n) {
            if (!is_op(cur(c), ","))
                break;
            advance(c);
            comma = 1;
        }
        struct jtok *t = cur(c);
        if (t->k == JT_BLOCK_END || t->k == JT_VAR_END || is_op(t, ")") || is_name(t, "in") ||
            is_name(t, "recursive") || is_name(t, "if") || is_op(t, "="))
            break;
        vpush(c, &v, with_cond ? parse_expression(c, 1) : parse_expression(c, 0), NULL, 0);
    }
    if (v.n == 1 && !comma)
        return v.kids[0];
    if (v.n == 0 && !explicit_parens)
        jx_fail(c, line, "expected an expression, got '%s'", tok_desc(cur(c)));
    struct jnode *n = node(c, JN_TUPLE, line);
    vset(n, &v);
    return n;
}

static struct jnode *parse_subscribed(struct jctx *c)
{
    int line = cur(c)->line;
    struct jnode *parts[3] = {NULL, NULL, NULL};
    if (!is_op(cur(c), ":")) {
        parts[0] = parse_expression(c, 1);
        if (!is_op(cur(c), ":"))
            return parts[0];
    }
    advance(c);
    if (!is_op(cur(c), "]") && !is_op(cur(c), ",") && !is_op(cur(c), ":"))
        parts[1] = parse_expression(c, 1);
    if (is_op(cur(c), ":")) {
        advance(c);
        if (!is_op(cur(c), "]") && !is_op(cur(c), ","))
            parts[2] = parse_expression(c, 1);
    }
    struct jnode *s = node(c, JN_SLICE, line);
    s->a = parts[0];
    s->b = parts[1];
    s->c = parts[2];
    return s;
}

static struct jnode *parse_postfix(struct jctx *c, struct jnode *n)
{
    for (;;) {
        struct jtok *t = cur(c);
        if (is_op(t, ".")) {
            advance(c);
            struct jtok *a = advance(c);
            if (a->k == JT_NAME) {
                struct jnode *g = node(c, JN_ATTR, t->line);
                g->a = n;
                g->val = jv_strb(a->s, a->n);
                n = g;
            } else if (a->k == JT_INT) {
                struct jnode *g = node(c, JN_ITEM, t->line);
                g->a = n;
                g->b = node(c, JN_CONST, t->line);
                g->b->val = jv_int(a->i);
                n = g;
            } else {
                jx_fail(c, a->line, "expected a name after '.', got '%s'", tok_desc(a));
            }
        } else if (is_op(t, "[")) {
            advance(c);
            struct vec v = {0};
            while (!is_op(cur(c), "]")) {
                if (v.n)
                    expect_op(c, ",");
                vpush(c, &v, parse_subscribed(c), NULL, 0);
            }
            advance(c);
            if (!v.n)
                jx_fail(c, t->line, "expected a subscript");
            struct jnode *g = node(c, JN_ITEM, t->line);
            g->a = n;
            if (v.n == 1) {
                g->b = v.kids[0];
            } else {
                g->b = node(c, JN_TUPLE, t->line);
                vset(g->b, &v);
            }
            n = g;
        } else if (is_op(t, "(")) {
            struct jnode *g = node(c, JN_CALL, t->line);
            struct vec v = {0};
            parse_args(c, &v);
            g->a = n;
            vset(g, &v);
            n = g;
        } else {
            return n;
        }
    }
}

static const char *dotted_name(struct jctx *c)
{
    const char *nm = expect_ident(c);
    while (is_op(cur(c), ".")) {
        advance(c);
        const char *more = expect_ident(c);
        size_t len = strlen(nm) + strlen(more) + 2;
        char *s = jx_alloc(c, len);
        snprintf(s, len, "%s.%s", nm, more);
        nm = s;
    }
    return nm;
}

static struct jnode *parse_filter(struct jctx *c, struct jnode *in, int line)
{
    struct jnode *f = node(c, JN_FILTER, line);
    const char *nm = dotted_name(c);
    if (!jx_filter_known(nm) && !c->soft)
        jx_fail(c, line, "no filter named '%s'", nm);
    f->val = jv_strz(nm);
    f->a = in;
    if (is_op(cur(c), "(")) {
        struct vec v = {0};
        parse_args(c, &v);
        vset(f, &v);
    }
    return f;
}

static struct jnode *parse_filter_expr(struct jctx *c, struct jnode *n)
{
    for (;;) {
        struct jtok *t = cur(c);
        if (is_op(t, "|")) {
            advance(c);
            n = parse_filter(c, n, t->line);
        } else if (is_name(t, "is")) {
            advance(c);
            struct jnode *g = node(c, JN_TEST, t->line);
            if (is_name(cur(c), "not")) {
                advance(c);
                g->op = 1;
            }
            const char *nm = dotted_name(c);
            if (!jx_test_known(nm) && !c->soft)
                jx_fail(c, t->line, "no test named '%s'", nm);
            g->val = jv_strz(nm);
            g->a = n;
            struct jtok *a = cur(c);
            struct vec v = {0};
            if (is_op(a, "(")) {
                parse_args(c, &v);
            } else if ((a->k == JT_NAME || a->k == JT_STRING || a->k == JT_INT ||
                        a->k == JT_FLOAT || is_op(a, "[") || is_op(a, "{")) &&
                       !is_name(a, "else") && !is_name(a, "or") && !is_name(a, "and")) {
                if (is_name(a, "is"))
                    jx_fail(c, a->line, "you cannot chain multiple tests with is");
                vpush(c, &v, parse_postfix(c, parse_primary(c)), NULL, 0);
            }
            vset(g, &v);
            n = g;
        } else if (is_op(t, "(")) {
            n = parse_postfix(c, n);
        } else {
            return n;
        }
    }
}

static struct jnode *parse_unary(struct jctx *c, int with_filter)
{
    struct jtok *t = cur(c);
    struct jnode *n;
    enter(c, t->line);
    if (is_op(t, "-") || is_op(t, "+")) {
        advance(c);
        n = node(c, JN_UNARY, t->line);
        n->op = (unsigned char)t->op[0];
        n->a = parse_unary(c, 0);
    } else {
        n = parse_primary(c);
    }
    n = parse_postfix(c, n);
    if (with_filter)
        n = parse_filter_expr(c, n);
    c->pdepth--;
    return n;
}

static struct jnode *binop(struct jctx *c, int op, struct jnode *a, struct jnode *b, int line)
{
    struct jnode *n = node(c, JN_BINOP, line);
    n->op = op;
    n->a = a;
    n->b = b;
    return n;
}

static struct jnode *parse_pow(struct jctx *c)
{
    struct jnode *n = parse_unary(c, 1);
    while (is_op(cur(c), "**")) {
        int line = advance(c)->line;
        n = binop(c, 'p', n, parse_unary(c, 1), line);
    }
    return n;
}

static struct jnode *parse_math2(struct jctx *c)
{
    struct jnode *n = parse_pow(c);
    for (;;) {
        struct jtok *t = cur(c);
        int op = is_op(t, "*")    ? '*'
                 : is_op(t, "/")  ? '/'
                 : is_op(t, "//") ? 'f'
                 : is_op(t, "%")  ? '%'
                                  : 0;
        if (!op)
            return n;
        advance(c);
        n = binop(c, op, n, parse_pow(c), t->line);
    }
}

static struct jnode *parse_concat(struct jctx *c)
{
    struct jnode *n = parse_math2(c);
    while (is_op(cur(c), "~")) {
        int line = advance(c)->line;
        n = binop(c, '~', n, parse_math2(c), line);
    }
    return n;
}

static struct jnode *parse_math1(struct jctx *c)
{
    struct jnode *n = parse_concat(c);
    for (;;) {
        struct jtok *t = cur(c);
        int op = is_op(t, "+") ? '+' : is_op(t, "-") ? '-' : 0;
        if (!op)
            return n;
        advance(c);
        n = binop(c, op, n, parse_concat(c), t->line);
    }
}

static struct jnode *parse_compare(struct jctx *c)
{
    int line = cur(c)->line;
    struct jnode *first = parse_math1(c);
    struct vec v = {0};
    for (;;) {
        struct jtok *t = cur(c);
        int op = 0;
        if (is_op(t, "=="))
            op = JC_EQ;
        else if (is_op(t, "!="))
            op = JC_NE;
        else if (is_op(t, "<"))
            op = JC_LT;
        else if (is_op(t, "<="))
            op = JC_LE;
        else if (is_op(t, ">"))
            op = JC_GT;
        else if (is_op(t, ">="))
            op = JC_GE;
        else if (is_name(t, "in"))
            op = JC_IN;
        else if (is_name(t, "not") && is_name(&c->toks[c->tpos + 1], "in")) {
            op = JC_NOTIN;
            advance(c);
        }
        if (!op)
            break;
        advance(c);
        vpush(c, &v, parse_math1(c), NULL, op);
    }
    if (!v.n)
        return first;
    struct jnode *n = node(c, JN_COMPARE, line);
    n->a = first;
    vset(n, &v);
    return n;
}

static struct jnode *parse_not(struct jctx *c)
{
    struct jtok *t = cur(c);
    if (is_name(t, "not")) {
        advance(c);
        enter(c, t->line);
        struct jnode *n = node(c, JN_UNARY, t->line);
        n->op = 'n';
        n->a = parse_not(c);
        c->pdepth--;
        return n;
    }
    return parse_compare(c);
}

static struct jnode *parse_and(struct jctx *c)
{
    struct jnode *n = parse_not(c);
    while (is_name(cur(c), "and")) {
        struct jnode *g = node(c, JN_AND, advance(c)->line);
        g->a = n;
        g->b = parse_not(c);
        n = g;
    }
    return n;
}

static struct jnode *parse_or(struct jctx *c)
{
    struct jnode *n = parse_and(c);
    while (is_name(cur(c), "or")) {
        struct jnode *g = node(c, JN_OR, advance(c)->line);
        g->a = n;
        g->b = parse_and(c);
        n = g;
    }
    return n;
}

static struct jnode *parse_expression(struct jctx *c, int with_cond)
{
    enter(c, cur(c)->line);
    struct jnode *n = parse_or(c);
    while (with_cond && is_name(cur(c), "if")) {
        struct jnode *g = node(c, JN_COND, advance(c)->line);
        g->a = n;
        c->soft++;
        g->b = parse_or(c);
        if (is_name(cur(c), "else")) {
            advance(c);
            g->c = parse_expression(c, 1);
        }
        c->soft--;
        n = g;
    }
    c->pdepth--;
    return n;
}

/* ---- statements ---- */

static struct jnode *parse_body(struct jctx *c, const char *const *ends, const char **which);

static struct jnode *parse_target(struct jctx *c, int allow_attr)
{
    struct jtok *t = cur(c);
    int paren = is_op(t, "(");
    if (paren)
        advance(c);
    struct vec v = {0};
    for (;;) {
        struct jtok *nm = cur(c);
        const char *name = expect_ident(c);
        struct jnode *n;
        if (allow_attr && !paren && is_op(cur(c), ".")) {
            advance(c);
            n = node(c, JN_ATTR, nm->line);
            n->a = node(c, JN_NAME, nm->line);
            n->a->val = jv_strz(name);
            n->val = jv_strz(expect_ident(c));
            return n;
        }
        n = node(c, JN_NAME, nm->line);
        n->val = jv_strz(name);
        vpush(c, &v, n, NULL, 0);
        if (!is_op(cur(c), ","))
            break;
        advance(c);
        if (paren && is_op(cur(c), ")"))
            break;
    }
    if (paren)
        expect_op(c, ")");
    if (v.n == 1 && !paren)
        return v.kids[0];
    struct jnode *n = node(c, JN_TUPLE, t->line);
    vset(n, &v);
    return n;
}

/* Which of caller, varargs and kwargs a macro body names (JM_*). */
static int refs(const struct jnode *n, int depth)
{
    if (!n || depth > 10000)
        return 0;
    int r = 0;
    if (n->kind == JN_NAME) {
        if (!strcmp(n->val.u.s.p, "caller"))
            r |= JM_CALLER;
        else if (!strcmp(n->val.u.s.p, "varargs"))
            r |= JM_VARARGS;
        else if (!strcmp(n->val.u.s.p, "kwargs"))
            r |= JM_KWARGS;
    }
    r |= refs(n->a, depth + 1) | refs(n->b, depth + 1) | refs(n->c, depth + 1) |
         refs(n->d, depth + 1) | refs(n->e, depth + 1);
    for (size_t i = 0; i < n->n; i++)
        r |= refs(n->kids[i], depth + 1);
    return r;
}

static void parse_params(struct jctx *c, struct jnode *n)
{
    struct vec v = {0};
    expect_op(c, "(");
    while (!is_op(cur(c), ")")) {
        if (v.n)
            expect_op(c, ",");
        if (is_op(cur(c), ")"))
            break;
        const char *name = expect_ident(c);
        struct jnode *def = NULL;
        if (is_op(cur(c), "=")) {
            advance(c);
            def = parse_expression(c, 1);
        }
        vpush(c, &v, def, name, 0);
    }
    advance(c);
    vset(n, &v);
}

static void end_block(struct jctx *c)
{
    expect_kind(c, JT_BLOCK_END, "end of statement block");
}

/* After a body ended by `which`, consumes `{% endX %}`. */
static void close_tag(struct jctx *c)
{
    advance(c); /* the keyword */
    end_block(c);
}

static struct jnode *parse_if(struct jctx *c, int line)
{
    static const char *const ends[] = {"elif", "else", "endif", NULL};
    struct jnode *n = node(c, JN_IF, line);
    c->soft++;
    n->a = parse_tuple(c, 0, 0); /* jinja2: no `x if y` in an if's test */
    end_block(c);
    const char *which;
    n->b = parse_body(c, ends, &which);
    if (!strcmp(which, "elif")) {
        int l = advance(c)->line;
        n->c = parse_if(c, l);
        c->soft--;
        return n;
    }
    if (!strcmp(which, "else")) {
        static const char *const e2[] = {"endif", NULL};
        close_tag(c);
        n->c = parse_body(c, e2, &which);
    }
    close_tag(c);
    c->soft--;
    return n;
}

static struct jnode *parse_statement(struct jctx *c)
{
    struct jtok *t = advance(c); /* {% */
    struct jtok *kw = cur(c);
    if (kw->k != JT_NAME)
        jx_fail(c, kw->line, "tag name expected");
    int line = kw->line;
    const char *k = kw->s;
    advance(c);
    struct jnode *n;
    const char *which;
    (void)t;
    if (!strcmp(k, "if")) {
        return parse_if(c, line);
    } else if (!strcmp(k, "for")) {
        static const char *const ends[] = {"else", "endfor", NULL};
        n = node(c, JN_FOR, line);
        n->a = parse_target(c, 0);
        if (!is_name(cur(c), "in"))
            jx_fail(c, cur(c)->line, "expected 'in' in the for loop");
        advance(c);
        n->b = parse_tuple(c, 0, 0);
        if (is_name(cur(c), "if")) {
            advance(c);
            n->e = parse_expression(c, 1);
        }
        if (is_name(cur(c), "recursive"))
            jx_fail(c, line, "recursive loops are not supported");
        end_block(c);
        n->c = parse_body(c, ends, &which);
        if (!strcmp(which, "else")) {
            static const char *const e2[] = {"endfor", NULL};
            close_tag(c);
            n->d = parse_body(c, e2, &which);
        }
        close_tag(c);
        return n;
    } else if (!strcmp(k, "set")) {
        struct jnode *target = parse_target(c, 1);
        if (is_op(cur(c), "=")) {
            advance(c);
            n = node(c, JN_SET, line);
            n->a = target;
            n->b = parse_tuple(c, 1, 0);
            end_block(c);
            return n;
        }
        static const char *const ends[] = {"endset", NULL};
        n = node(c, JN_SETB, line);
        n->a = target;
        if (is_op(cur(c), "|")) {
            int l = advance(c)->line;
            n->e = parse_filter(c, NULL, l);
            while (is_op(cur(c), "|")) {
                l = advance(c)->line;
                n->e = parse_filter(c, n->e, l);
            }
        }
        end_block(c);
        n->c = parse_body(c, ends, &which);
        close_tag(c);
        return n;
    } else if (!strcmp(k, "macro")) {
        static const char *const ends[] = {"endmacro", NULL};
        n = node(c, JN_MACRO, line);
        n->val = jv_strz(expect_ident(c));
        parse_params(c, n);
        end_block(c);
        n->c = parse_body(c, ends, &which);
        n->op = refs(n->c, 0);
        close_tag(c);
        return n;
    } else if (!strcmp(k, "call")) {
        static const char *const ends[] = {"endcall", NULL};
        n = node(c, JN_CALLB, line);
        if (is_op(cur(c), "("))
            parse_params(c, n);
        n->a = parse_expression(c, 1);
        if (n->a->kind != JN_CALL)
            jx_fail(c, line, "expected a call after {%% call %%}");
        end_block(c);
        n->c = parse_body(c, ends, &which);
        n->op = refs(n->c, 0);
        close_tag(c);
        return n;
    } else if (!strcmp(k, "filter")) {
        static const char *const ends[] = {"endfilter", NULL};
        n = node(c, JN_FILTB, line);
        n->e = parse_filter(c, NULL, line);
        while (is_op(cur(c), "|")) {
            int l = advance(c)->line;
            n->e = parse_filter(c, n->e, l);
        }
        end_block(c);
        n->c = parse_body(c, ends, &which);
        close_tag(c);
        return n;
    } else if (!strcmp(k, "generation")) {
        /* transformers' AssistantTracker: marks the assistant's tokens, renders its body. */
        static const char *const ends[] = {"endgeneration", NULL};
        end_block(c);
        n = parse_body(c, ends, &which);
        close_tag(c);
        return n;
    } else if (!strcmp(k, "break") || !strcmp(k, "continue")) {
        n = node(c, k[0] == 'b' ? JN_BREAK : JN_CONTINUE, line);
        end_block(c);
        return n;
    } else if (!strcmp(k, "include") || !strcmp(k, "import") || !strcmp(k, "from") ||
               !strcmp(k, "extends") || !strcmp(k, "block")) {
        jx_fail(c, line, "'%s' is not supported: a chat template has no other files", k);
    }
    jx_fail(c, line, "encountered unknown tag '%s'", k);
}

static struct jnode *parse_body(struct jctx *c, const char *const *ends, const char **which)
{
    struct jnode *body = node(c, JN_BODY, cur(c)->line);
    struct vec v = {0};
    enter(c, cur(c)->line);
    for (;;) {
        struct jtok *t = cur(c);
        if (t->k == JT_EOF) {
            if (ends)
                jx_fail(c, t->line, "unexpected end of template, expected '%s'", ends[0]);
            break;
        }
        if (t->k == JT_TEXT) {
            struct jnode *n = node(c, JN_TEXT, t->line);
            n->val = jv_strb(t->s, t->n);
            vpush(c, &v, n, NULL, 0);
            advance(c);
        } else if (t->k == JT_VAR_BEGIN) {
            advance(c);
            struct jnode *n = node(c, JN_OUT, t->line);
            n->a = parse_tuple(c, 1, 0);
            expect_kind(c, JT_VAR_END, "end of print statement");
            vpush(c, &v, n, NULL, 0);
        } else if (t->k == JT_BLOCK_BEGIN) {
            struct jtok *kw = &c->toks[c->tpos + 1];
            if (ends && kw->k == JT_NAME) {
                int hit = 0;
                for (size_t i = 0; ends[i] && !hit; i++)
                    if (!strcmp(kw->s, ends[i])) {
                        *which = ends[i];
                        hit = 1;
                    }
                if (hit) {
                    advance(c); /* leaves the keyword for close_tag */
                    break;
                }
            }
            if (kw->k == JT_NAME &&
                (!strncmp(kw->s, "end", 3) || !strcmp(kw->s, "elif") || !strcmp(kw->s, "else")))
                jx_fail(c, kw->line, "unexpected '%s'", kw->s);
            vpush(c, &v, parse_statement(c), NULL, 0);
        } else {
            jx_fail(c, t->line, "unexpected '%s'", tok_desc(t));
        }
    }
    c->pdepth--;
    vset(body, &v);
    return body;
}

struct jnode *jx_parse(struct jctx *c)
{
    c->tpos = 0;
    return parse_body(c, NULL, NULL);
}
