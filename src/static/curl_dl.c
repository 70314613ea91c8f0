/* libcurl for the static build (HEARTH_STATIC): loaded with dlopen when first used.
 *
 * Debian's libcurl has no static archive whose dependencies all have one (GSSAPI, LDAP,
 * nghttp2, libssh2...), and a bundle should start on a machine without libcurl. So the static
 * hearth does not link libcurl: this file defines the curl functions hearth calls, each
 * forwarding to libcurl.so.4 when the machine has it. Without it, downloads (pull) and the
 * client commands that talk to a server fail with a clear message; running and serving a
 * model never call curl.
 */
#define CURL_DISABLE_TYPECHECK 1 /* the type-checking macros would rename the functions */
#include <curl/curl.h>

#include <dlfcn.h>
#include <pthread.h>
#include <stdarg.h>
#include <stddef.h>

#include "static/forward.h"

static void *lib;
static pthread_once_t lib_once = PTHREAD_ONCE_INIT;

static void lib_load(void)
{
    lib = dlopen("libcurl.so.4", RTLD_NOW | RTLD_LOCAL);
    if (!lib)
        lib = dlopen("libcurl-gnutls.so.4", RTLD_NOW | RTLD_LOCAL);
}

static void *sym(const char *name)
{
    pthread_once(&lib_once, lib_load);
    return lib ? dlsym(lib, name) : NULL;
}

FORWARD(sym, CURLcode, curl_global_init, (long flags), (flags), CURLE_FAILED_INIT)
FORWARD(sym, CURL *, curl_easy_init, (void), (), NULL)
FORWARD_VOID(sym, curl_easy_cleanup, (CURL * h), (h))
FORWARD(sym, CURLcode, curl_easy_perform, (CURL * h), (h), CURLE_FAILED_INIT)
FORWARD(sym, char *, curl_easy_escape, (CURL * h, const char *s, int n), (h, s, n), NULL)
FORWARD_VOID(sym, curl_free, (void *p), (p))
FORWARD(sym, struct curl_slist *, curl_slist_append, (struct curl_slist * l, const char *s), (l, s),
        NULL)
FORWARD_VOID(sym, curl_slist_free_all, (struct curl_slist * l), (l))
FORWARD(sym, CURLM *, curl_multi_init, (void), (), NULL)
FORWARD(sym, CURLMcode, curl_multi_cleanup, (CURLM * m), (m), CURLM_BAD_HANDLE)
FORWARD(sym, CURLMcode, curl_multi_add_handle, (CURLM * m, CURL *h), (m, h), CURLM_BAD_HANDLE)
FORWARD(sym, CURLMcode, curl_multi_remove_handle, (CURLM * m, CURL *h), (m, h), CURLM_BAD_HANDLE)
FORWARD(sym, CURLMcode, curl_multi_perform, (CURLM * m, int *running), (m, running),
        CURLM_BAD_HANDLE)
FORWARD(sym, CURLMsg *, curl_multi_info_read, (CURLM * m, int *left), (m, left), NULL)
FORWARD(sym, CURLMcode, curl_multi_poll,
        (CURLM * m, struct curl_waitfd extra[], unsigned int n, int timeout_ms, int *numfds),
        (m, extra, n, timeout_ms, numfds), CURLM_BAD_HANDLE)
FORWARD(sym, CURLU *, curl_url, (void), (), NULL)
FORWARD_VOID(sym, curl_url_cleanup, (CURLU * u), (u))
FORWARD(sym, CURLUcode, curl_url_get, (CURLU * u, CURLUPart what, char **part, unsigned int flags),
        (u, what, part, flags), CURLUE_OUT_OF_MEMORY)
FORWARD(sym, CURLUcode, curl_url_set,
        (CURLU * u, CURLUPart what, const char *part, unsigned int flags), (u, what, part, flags),
        CURLUE_OUT_OF_MEMORY)

const char *curl_easy_strerror(CURLcode code)
{
    const char *(*f)(CURLcode) = (const char *(*)(CURLcode))sym("curl_easy_strerror");
    if (!f)
        return "libcurl is not installed (this static hearth loads libcurl.so.4 for network "
               "access: apt-get install libcurl4)";
    return f(code);
}

/* The variadic two: the argument's type follows from the option's number (curl.h's
 * CURLOPTTYPE_* ranges), and every pointer, function pointer included, passes as void *. */
CURLcode curl_easy_setopt(CURL *h, CURLoption opt, ...)
{
    CURLcode (*f)(CURL *, CURLoption, ...) =
        (CURLcode(*)(CURL *, CURLoption, ...))sym("curl_easy_setopt");
    if (!f)
        return CURLE_FAILED_INIT;
    va_list ap;
    va_start(ap, opt);
    CURLcode rc;
    if (opt < CURLOPTTYPE_OBJECTPOINT) {
        long v = va_arg(ap, long);
        rc = f(h, opt, v);
    } else if (opt >= CURLOPTTYPE_OFF_T && opt < CURLOPTTYPE_BLOB) {
        curl_off_t v = va_arg(ap, curl_off_t);
        rc = f(h, opt, v);
    } else {
        void *v = va_arg(ap, void *);
        rc = f(h, opt, v);
    }
    va_end(ap);
    return rc;
}

CURLcode curl_easy_getinfo(CURL *h, CURLINFO info, ...)
{
    CURLcode (*f)(CURL *, CURLINFO, ...) =
        (CURLcode(*)(CURL *, CURLINFO, ...))sym("curl_easy_getinfo");
    if (!f)
        return CURLE_FAILED_INIT;
    va_list ap;
    va_start(ap, info);
    void *p = va_arg(ap, void *);
    va_end(ap);
    return f(h, info, p);
}
