/* The live presets file of a server: re-read when it changes, the last good version kept when
 * an edit does not parse. */
#include "store/preset.h"

#include "base/log.h"
#include "base/util.h"
#include "store/preset_int.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

struct file_sig {
    int exists;
    dev_t dev;
    ino_t ino;
    off_t size;
    struct timespec mtime;
};

struct preset_live {
    char *path;
    pthread_mutex_t mu;
    struct preset_set *cur;
    char *text;          /* of the file cur was read from ("" when there was none) */
    char *bad;           /* a version that failed to parse, not to be reported again */
    struct file_sig sig; /* of the file when it was last read */
    int racy;            /* it changed within the file system's time granularity: compare text */
};

static struct file_sig sig_of(const char *path)
{
    struct file_sig s = {0};
    struct stat st;
    if (stat(path, &st) == 0) {
        s.exists = 1;
        s.dev = st.st_dev;
        s.ino = st.st_ino;
        s.size = st.st_size;
        s.mtime = st.st_mtim;
    }
    return s;
}

static int sig_eq(const struct file_sig *a, const struct file_sig *b)
{
    return a->exists == b->exists && a->dev == b->dev && a->ino == b->ino && a->size == b->size &&
           a->mtime.tv_sec == b->mtime.tv_sec && a->mtime.tv_nsec == b->mtime.tv_nsec;
}

/* A file written within the last two seconds may be written again with the same size and
 * mtime (timestamps are coarser than writes): until it is older, its text is compared. */
static int is_racy(const struct file_sig *s)
{
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    return s->exists && now.tv_sec - s->mtime.tv_sec < 2;
}

/* Re-reads the file when it may have changed. Called with l->mu held. */
static void live_check(struct preset_live *l, const struct file_sig *now)
{
    char *text = NULL;
    size_t len = 0;
    struct err e = {0};
    int rc = preset_read_file(l->path, &text, &len, &e);
    if (rc == ERR_NOT_FOUND) {
        text = xstrdup("");
        rc = 0;
    }
    if (rc) {
        log_warn("msg=\"cannot read the presets file; keeping the last good version\" err=%s",
                 log_q(e.msg));
        return;
    }
    if (!text)
        text = xstrdup("");
    l->sig = *now;
    l->racy = is_racy(now);
    if (strlen(text) == len && !strcmp(text, l->text)) {
        free(text);
        return;
    }
    if (l->bad && strlen(text) == len && !strcmp(text, l->bad)) {
        free(text);
        return;
    }
    struct preset_set *p;
    if (preset_parse(l->path, text, len, &p, &e) == 0) {
        preset_release(l->cur);
        l->cur = p;
        free(l->text);
        l->text = text;
        free(l->bad);
        l->bad = NULL;
        int n;
        preset_sections(p, &n);
        log_info("msg=\"presets reloaded\" path=%s sections=%d", log_q(l->path), n);
    } else {
        free(l->bad);
        l->bad = text;
        log_warn("msg=\"the presets file changed but does not load; keeping the last good "
                 "version\" err=%s",
                 log_q(e.msg));
    }
}

int preset_live_open(const char *path, int required, struct preset_live **out, struct err *e)
{
    *out = NULL;
    struct file_sig sig = sig_of(path);
    if (required && !sig.exists)
        return err_set(e, ERR_NOT_FOUND, "presets file %s: %s", path, strerror(ENOENT));
    char *text = NULL;
    size_t len = 0;
    int rc = preset_read_file(path, &text, &len, e);
    if (rc == ERR_NOT_FOUND) {
        text = xstrdup("");
        rc = 0;
    }
    struct preset_set *p = NULL;
    if (!rc)
        rc = preset_parse(path, text, len, &p, e);
    if (rc) {
        free(text);
        return rc;
    }
    struct preset_live *l = xcalloc(1, sizeof *l);
    l->path = xstrdup(path);
    pthread_mutex_init(&l->mu, NULL);
    l->cur = p;
    l->text = text;
    l->sig = sig;
    l->racy = is_racy(&sig);
    *out = l;
    return 0;
}

struct preset_set *preset_live_get(struct preset_live *l)
{
    struct file_sig now = sig_of(l->path);
    pthread_mutex_lock(&l->mu);
    if (l->racy || !sig_eq(&now, &l->sig))
        live_check(l, &now);
    struct preset_set *p = preset_retain(l->cur);
    pthread_mutex_unlock(&l->mu);
    return p;
}

const char *preset_live_path(const struct preset_live *l)
{
    return l->path;
}

void preset_live_free(struct preset_live *l)
{
    if (!l)
        return;
    preset_release(l->cur);
    free(l->text);
    free(l->bad);
    pthread_mutex_destroy(&l->mu);
    free(l->path);
    free(l);
}
