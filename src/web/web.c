/* The web UI's files, served from the table the build embedded (see web.h). */
#include "web/web.h"

#include "base/util.h"

#include <string.h>
#include <strings.h>

const struct web_asset *web_find(const char *path)
{
    for (int i = 0; i < web_n_assets; i++)
        if (!strcmp(web_assets[i].path, path))
            return &web_assets[i];
    return NULL;
}

bool web_wants_html(const struct http_request *req)
{
    const char *accept = http_header(req, "Accept");
    return accept && strcasestr(accept, "text/html") != NULL;
}

/* Whether an If-None-Match list names etag (or is "*"). */
static bool etag_matches(const char *inm, const char *etag)
{
    if (!inm)
        return false;
    size_t el = strlen(etag);
    for (const char *p = inm; *p;) {
        while (*p == ' ' || *p == ',')
            p++;
        if (!strncmp(p, "W/", 2))
            p += 2;
        if (*p == '*' || (!strncmp(p, etag, el) && (p[el] == '\0' || p[el] == ',' || p[el] == ' ')))
            return true;
        while (*p && *p != ',')
            p++;
    }
    return false;
}

static void serve_asset(const struct http_request *req, struct http_reply *rep,
                        const struct web_asset *a)
{
    rep->headers[0].name = "Content-Security-Policy";
    rep->headers[0].value = WEB_CSP;
    rep->headers[1].name = "X-Content-Type-Options";
    rep->headers[1].value = "nosniff";
    rep->headers[2].name = "Referrer-Policy";
    rep->headers[2].value = "no-referrer";
    rep->headers[3].name = "Cache-Control";
    rep->headers[3].value = "no-cache";
    rep->headers[4].name = "ETag";
    rep->headers[4].value = a->etag;
    rep->headers[5].name = "X-Frame-Options";
    rep->headers[5].value = "DENY";
    buf_reset(&rep->body);
    if (etag_matches(http_header(req, "If-None-Match"), a->etag)) {
        rep->status = 304;
        rep->content_type = NULL;
        return;
    }
    rep->status = 200;
    rep->content_type = a->content_type;
    if (buf_append(&rep->body, (const char *)a->data, a->len))
        http_reply_json(rep, 500, "{\"error\":\"out of memory\"}");
}

void web_index(const struct http_request *req, struct http_reply *rep)
{
    const struct web_asset *a = web_find("/ui/index.html");
    if (!a) {
        http_reply_json(rep, 404, "{\"error\":\"this build has no web UI\"}");
        return;
    }
    serve_asset(req, rep, a);
    /* GET / answers browsers with this page and other clients with text. */
    rep->headers[6].name = "Vary";
    rep->headers[6].value = "Accept";
}

static void handle_asset(const struct http_request *req, struct http_reply *rep)
{
    const struct web_asset *a = web_find(req->path);
    if (!a) {
        http_reply_json(rep, 404, "{\"error\":\"no such file in the web UI\"}");
        return;
    }
    serve_asset(req, rep, a);
}

static const struct http_route routes[] = {
    {"GET", "/ui/*", handle_asset},
};

void web_routes(const struct http_route **r, int *n)
{
    *r = routes;
    *n = (int)ARRAY_LEN(routes);
}
