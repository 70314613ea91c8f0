#include "net/client.h"

#include "base/util.h"

#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct xfer {
    const struct httpc_opts *o;
    struct buf *out;
    struct buf line;
    int aborted;
};

static size_t on_data(char *p, size_t size, size_t n, void *ud)
{
    struct xfer *x = ud;
    size_t len = size * n;
    if (!x->o->on_line) {
        if (buf_append(x->out, p, len))
            return 0; /* over the cap: curl reports a write error */
        return len;
    }
    for (size_t i = 0; i < len; i++) {
        if (p[i] != '\n') {
            if (buf_append(&x->line, p + i, 1))
                return 0;
            continue;
        }
        if (x->line.len && x->o->on_line(x->o->ud, x->line.data)) {
            x->aborted = 1;
            return 0;
        }
        buf_reset(&x->line);
    }
    return len;
}

static int on_progress(void *ud, curl_off_t a, curl_off_t b, curl_off_t c, curl_off_t d)
{
    (void)a, (void)b, (void)c, (void)d;
    struct xfer *x = ud;
    return x->o->interrupt && *x->o->interrupt;
}

void httpc_default_base(char *out, size_t len)
{
    const char *h = getenv("HEARTH_HOST");
    if (!h || !*h)
        h = getenv("OLLAMA_HOST");
    if (!h || !*h)
        h = "127.0.0.1:11434";
    const char *scheme = strstr(h, "://") ? "" : "http://";
    /* ":11434" and "0.0.0.0" name the listener; a client connects to loopback. */
    if (h[0] == ':')
        snprintf(out, len, "http://127.0.0.1%s", h);
    else if (!strncmp(h, "0.0.0.0", 7))
        snprintf(out, len, "http://127.0.0.1%s", h + 7);
    else
        snprintf(out, len, "%s%s", scheme, h);
    size_t n = strlen(out);
    if (n && out[n - 1] == '/')
        out[n - 1] = '\0';
    /* A host without a port means the default one. */
    const char *hostpart = strstr(out, "://") + 3;
    if (!strchr(hostpart, ':') && n + 7 < len)
        snprintf(out + n, len - n, ":11434");
}

int httpc_request(const char *base_url, const char *path, const struct httpc_opts *o, int *status,
                  struct buf *out, struct err *e)
{
    static int inited;
    if (!inited) {
        curl_global_init(CURL_GLOBAL_DEFAULT);
        inited = 1;
    }
    CURL *c = curl_easy_init();
    if (!c)
        return err_set(e, ERR_IO, "cannot start an HTTP client");
    char url[2048];
    snprintf(url, sizeof url, "%s%s", base_url, path);
    struct xfer x = {o, out, {0}, 0};
    buf_init(&x.line, 64u << 20);
    struct curl_slist *hdr = curl_slist_append(NULL, "Content-Type: application/json");
    /* A server started with keys wants one: HEARTH_API_KEY, as `hearth serve` reads it. */
    const char *key = getenv("HEARTH_API_KEY");
    char auth[1100];
    if (key && *key && strlen(key) < 1024 && !strpbrk(key, "\r\n")) {
        snprintf(auth, sizeof auth, "Authorization: Bearer %s", key);
        hdr = curl_slist_append(hdr, auth);
    }
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, o->method);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdr);
    if (o->body)
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, o->body);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_data);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &x);
    curl_easy_setopt(c, CURLOPT_XFERINFOFUNCTION, on_progress);
    curl_easy_setopt(c, CURLOPT_XFERINFODATA, &x);
    curl_easy_setopt(c, CURLOPT_NOPROGRESS, 0L);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, 10L);
    /* A server with a certificate of its own (self-signed, a private CA): HEARTH_CA_FILE names
     * the certificate to trust, in place of the system's. */
    const char *ca = getenv("HEARTH_CA_FILE");
    if (ca && *ca)
        curl_easy_setopt(c, CURLOPT_CAINFO, ca);
    CURLcode rc = curl_easy_perform(c);
    long code = 0;
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &code);
    *status = (int)code;
    int ret = 0;
    if (rc == CURLE_ABORTED_BY_CALLBACK || (rc == CURLE_WRITE_ERROR && x.aborted))
        ret = err_set(e, ERR_CANCELLED, "interrupted");
    else if (rc == CURLE_COULDNT_CONNECT)
        ret = err_set(e, ERR_UNAVAILABLE,
                      "could not connect to a hearth server at %s; is `hearth serve` running?",
                      base_url);
    else if (rc == CURLE_PEER_FAILED_VERIFICATION || rc == CURLE_SSL_CACERT_BADFILE)
        ret = err_set(e, ERR_UNAVAILABLE,
                      "the certificate of %s is not trusted (%s); set HEARTH_CA_FILE to the "
                      "certificate (or its CA's) in PEM",
                      base_url, curl_easy_strerror(rc));
    else if (rc != CURLE_OK)
        ret = err_set(e, ERR_IO, "%s: %s", url, curl_easy_strerror(rc));
    /* A last line without a newline. */
    if (!ret && o->on_line && x.line.len)
        o->on_line(o->ud, x.line.data);
    buf_free(&x.line);
    curl_slist_free_all(hdr);
    curl_easy_cleanup(c);
    return ret;
}

int httpc_probe(const char *url, long timeout_s, int *status, struct err *e)
{
    CURL *c = curl_easy_init();
    if (!c)
        return err_set(e, ERR_INTERNAL, "curl_easy_init failed");
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_NOBODY, 1L);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, timeout_s);
    curl_easy_setopt(c, CURLOPT_TIMEOUT, timeout_s);
    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
    CURLcode rc = curl_easy_perform(c);
    long code = 0;
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &code);
    curl_easy_cleanup(c);
    *status = (int)code;
    if (rc != CURLE_OK)
        return err_set(e, ERR_UNAVAILABLE, "%s", curl_easy_strerror(rc));
    return 0;
}
