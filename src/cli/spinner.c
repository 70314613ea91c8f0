/* A spinner on stderr while something takes a while (a model loading), on a terminal only. */
#include "cli/cli.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

struct spinner {
    pthread_t th;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int stop;
    int drawn; /* a frame is on the screen: stop clears the line */
    char msg[128];
};

static void *spin(void *arg)
{
    struct spinner *s = arg;
    static const char *const frames[] = {"|", "/", "-", "\\"};
    int color = cli_color_stderr();
    /* HEARTH_SPINNER_DELAY_MS (default 300): how long before the first frame. */
    const char *dv = getenv("HEARTH_SPINNER_DELAY_MS");
    long delay_ns = (dv && *dv ? atol(dv) : 300) * 1000000L;
    if (delay_ns < 0 || delay_ns > 10000000000L)
        delay_ns = 300000000L;
    pthread_mutex_lock(&s->mu);
    for (int i = 0; !s->stop; i++) {
        /* The first frame after the delay: a quick load shows nothing at all. */
        struct timespec until;
        clock_gettime(CLOCK_REALTIME, &until);
        long step = i == 0 ? delay_ns : 100000000L;
        until.tv_sec += step / 1000000000L;
        until.tv_nsec += step % 1000000000L;
        if (until.tv_nsec >= 1000000000L) {
            until.tv_sec++;
            until.tv_nsec -= 1000000000L;
        }
        if (pthread_cond_timedwait(&s->cv, &s->mu, &until) == 0 && s->stop)
            break;
        if (s->stop)
            break;
        fprintf(stderr, "\r%s%s %s%s\033[K", color ? "\033[2m" : "", frames[i % 4], s->msg,
                color ? "\033[0m" : "");
        fflush(stderr);
        s->drawn = 1;
    }
    pthread_mutex_unlock(&s->mu);
    return NULL;
}

struct spinner *cli_spinner_start(const char *msg)
{
    if (!isatty(STDERR_FILENO))
        return NULL;
    struct spinner *s = calloc(1, sizeof *s);
    if (!s)
        return NULL;
    snprintf(s->msg, sizeof s->msg, "%s", msg);
    pthread_mutex_init(&s->mu, NULL);
    pthread_cond_init(&s->cv, NULL);
    if (pthread_create(&s->th, NULL, spin, s) != 0) {
        free(s);
        return NULL;
    }
    return s;
}

void cli_spinner_stop(struct spinner *s)
{
    if (!s)
        return;
    pthread_mutex_lock(&s->mu);
    s->stop = 1;
    pthread_cond_signal(&s->cv);
    pthread_mutex_unlock(&s->mu);
    pthread_join(s->th, NULL);
    if (s->drawn) {
        fputs("\r\033[K", stderr);
        fflush(stderr);
    }
    pthread_mutex_destroy(&s->mu);
    pthread_cond_destroy(&s->cv);
    free(s);
}
