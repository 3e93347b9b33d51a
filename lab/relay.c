/* The lab's user-space delay/loss relay (the kernel has no netem): see lab/relay.py.
 *
 * Reads IP packets from two TUN devices, holds each one for a delay (+- uniform jitter), drops a share at
 * random, and writes it to the other TUN device.  The relay namespace's policy routing sends what comes
 * from the scanner into TUN A and what comes from the hosts into TUN B, so each direction is delayed once.
 * Packets whose source or destination is outside the lab ranges (198.18.0.0/15, 2001:db8::/32) are
 * dropped and counted: the relay never carries anything else.
 *
 * Usage (started by the supervisor `python -m lab.relay serve`, with argv[0] "lab.relay"):
 *   relay TUN_A TUN_B CONF STATUS --lab-tag TAG --parent PID
 * CONF holds "gen delay_us jitter_us loss_bp seed"; it is read at start and on SIGHUP, and STATUS is
 * rewritten (atomically) on every reload, on SIGUSR1 and once a second with the counters.  Prints "ready"
 * once both devices are attached; exits on SIGTERM/SIGINT, when its parent dies (PR_SET_PDEATHSIG) or when
 * PID is no longer its parent.
 *
 * Timing: one binary heap per direction keyed by (due time, arrival order): exact release times with
 * jitter (reordering, as jitter does) and FIFO order without it.  Reads are batched per wake-up.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/if.h>
#include <linux/if_tun.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <time.h>
#include <unistd.h>

#define MAX_QUEUED 262144 /* packets held per direction; beyond: dropped, counted as overflow */
#define READ_BATCH 512    /* packets read per device per wake-up: bounded so releases stay on time */
#define PKT_MAX 65536

struct pkt {
    uint64_t due, seq;
    uint32_t len;
    unsigned char data[];
};

struct heap {
    struct pkt **a;
    size_t n;
};

static volatile sig_atomic_t got_hup, got_usr1, got_stop;
static uint64_t delay_us, jitter_us, loss_bp, gen = (uint64_t)-1, rng_state = 88172645463325252ULL;
static uint64_t relayed[2], lost[2], unsafe[2], overflow[2], write_err[2], max_queued[2];

static uint64_t now_us(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

static uint64_t rnd(void) { /* xorshift64*: fast, seedable, good enough for loss and jitter */
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return rng_state * 2685821657736338717ULL;
}

static int before(const struct pkt *x, const struct pkt *y) {
    return x->due < y->due || (x->due == y->due && x->seq < y->seq);
}

static void heap_push(struct heap *h, struct pkt *p) {
    size_t i = h->n++;
    while (i > 0 && before(p, h->a[(i - 1) / 2])) {
        h->a[i] = h->a[(i - 1) / 2];
        i = (i - 1) / 2;
    }
    h->a[i] = p;
}

static struct pkt *heap_pop(struct heap *h) {
    struct pkt *top = h->a[0], *last = h->a[--h->n];
    size_t i = 0;
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= h->n) break;
        if (c + 1 < h->n && before(h->a[c + 1], h->a[c])) c++;
        if (!before(h->a[c], last)) break;
        h->a[i] = h->a[c];
        i = c;
    }
    if (h->n) h->a[i] = last;
    return top;
}

static int in_lab(const unsigned char *b, uint32_t len) {
    if (len >= 20 && (b[0] >> 4) == 4) /* 198.18.0.0/15 */
        return b[12] == 198 && (b[13] & 0xfe) == 18 && b[16] == 198 && (b[17] & 0xfe) == 18;
    if (len >= 40 && (b[0] >> 4) == 6) { /* 2001:db8::/32 */
        static const unsigned char p[4] = {0x20, 0x01, 0x0d, 0xb8};
        return memcmp(b + 8, p, 4) == 0 && memcmp(b + 24, p, 4) == 0;
    }
    return 0;
}

static int tun_open(const char *name) {
    struct ifreq ifr;
    int fd = open("/dev/net/tun", O_RDWR | O_CLOEXEC | O_NONBLOCK);
    if (fd < 0) return -1;
    memset(&ifr, 0, sizeof ifr);
    ifr.ifr_flags = IFF_TUN | IFF_NO_PI;
    snprintf(ifr.ifr_name, IFNAMSIZ, "%s", name);
    if (ioctl(fd, TUNSETIFF, &ifr) < 0) {
        close(fd);
        return -1;
    }
    return fd;
}

static int load_conf(const char *path) {
    unsigned long long g, d, j, l, s;
    FILE *f = fopen(path, "r");
    if (!f) return -1;
    int n = fscanf(f, "%llu %llu %llu %llu %llu", &g, &d, &j, &l, &s);
    fclose(f);
    if (n != 5 || j > d || l > 10000) return -1;
    if (g != gen) rng_state = s ? s : 88172645463325252ULL; /* a new scenario: its own random stream */
    gen = g, delay_us = d, jitter_us = j, loss_bp = l;
    return 0;
}

static void write_status(const char *path, const struct heap *h) {
    char tmp[4200], text[1024];
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    int n = snprintf(text, sizeof text,
                     "{\"gen\": %llu, \"delay_us\": %llu, \"jitter_us\": %llu, \"loss_bp\": %llu, "
                     "\"relayed\": [%llu, %llu], \"lost\": [%llu, %llu], \"unsafe\": [%llu, %llu], "
                     "\"overflow\": [%llu, %llu], \"write_errors\": [%llu, %llu], \"queued\": [%zu, %zu], "
                     "\"max_queued\": [%llu, %llu]}\n",
                     (unsigned long long)gen, (unsigned long long)delay_us, (unsigned long long)jitter_us,
                     (unsigned long long)loss_bp, (unsigned long long)relayed[0], (unsigned long long)relayed[1],
                     (unsigned long long)lost[0], (unsigned long long)lost[1], (unsigned long long)unsafe[0],
                     (unsigned long long)unsafe[1], (unsigned long long)overflow[0],
                     (unsigned long long)overflow[1], (unsigned long long)write_err[0],
                     (unsigned long long)write_err[1], h[0].n, h[1].n, (unsigned long long)max_queued[0],
                     (unsigned long long)max_queued[1]);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) return;
    if (write(fd, text, (size_t)n) == n) rename(tmp, path);
    close(fd);
}

static void on_signal(int sig) {
    if (sig == SIGHUP) got_hup = 1;
    else if (sig == SIGUSR1) got_usr1 = 1;
    else got_stop = 1;
}

/* Read what is waiting on device `dir`, queue it for the other one (or drop it). */
static void take(int fd, int dir, struct heap *h, unsigned char *buf, uint64_t *seq) {
    for (int i = 0; i < READ_BATCH; i++) {
        ssize_t n = read(fd, buf, PKT_MAX);
        if (n <= 0) return;
        if (!in_lab(buf, (uint32_t)n)) {
            unsafe[dir]++;
            continue;
        }
        if (loss_bp && rnd() % 10000 < loss_bp) {
            lost[dir]++;
            continue;
        }
        if (h->n >= MAX_QUEUED) {
            overflow[dir]++;
            continue;
        }
        struct pkt *p = malloc(sizeof *p + (size_t)n);
        if (!p) {
            overflow[dir]++;
            continue;
        }
        uint64_t j = jitter_us ? rnd() % (2 * jitter_us + 1) : 0;
        p->due = now_us() + delay_us + j - jitter_us;
        p->seq = (*seq)++;
        p->len = (uint32_t)n;
        memcpy(p->data, buf, (size_t)n);
        heap_push(h, p);
        if (h->n > max_queued[dir]) max_queued[dir] = h->n;
    }
}

/* Write every packet that is due; returns microseconds until the next one (or 1 s). */
static uint64_t release(const int *fds, struct heap *h) {
    uint64_t t = now_us(), wait = 1000000;
    for (int dir = 0; dir < 2; dir++) {
        while (h[dir].n && h[dir].a[0]->due <= t) {
            struct pkt *p = heap_pop(&h[dir]);
            if (write(fds[1 - dir], p->data, p->len) == (ssize_t)p->len) relayed[dir]++;
            else write_err[dir]++;
            free(p);
        }
        if (h[dir].n && h[dir].a[0]->due - t < wait) wait = h[dir].a[0]->due - t;
    }
    return wait;
}

int main(int argc, char **argv) {
    if (argc < 5) {
        fprintf(stderr, "usage: relay TUN_A TUN_B CONF STATUS [--lab-tag T] [--parent PID]\n");
        return 2;
    }
    pid_t parent = 0;
    for (int i = 5; i + 1 < argc; i++)
        if (!strcmp(argv[i], "--parent")) parent = (pid_t)atoi(argv[i + 1]);
    prctl(PR_SET_PDEATHSIG, SIGTERM);
    if (parent > 0 && getppid() != parent) return 1; /* the lab is already gone */
    /* Signals are blocked except inside ppoll(): one that arrives while we work wakes the next ppoll
     * at once instead of waiting out its timeout. */
    struct sigaction sa = {0};
    sigset_t block, during_poll;
    sa.sa_handler = on_signal;
    sigemptyset(&block);
    int sigs[4] = {SIGHUP, SIGUSR1, SIGTERM, SIGINT};
    for (int i = 0; i < 4; i++) sigaction(sigs[i], &sa, NULL), sigaddset(&block, sigs[i]);
    sigprocmask(SIG_BLOCK, &block, &during_poll);
    for (int i = 0; i < 4; i++) sigdelset(&during_poll, sigs[i]);
    int fds[2] = {tun_open(argv[1]), tun_open(argv[2])};
    if (fds[0] < 0 || fds[1] < 0) {
        perror("relay: attach TUN");
        return 1;
    }
    if (load_conf(argv[3]) < 0) fprintf(stderr, "relay: bad or missing %s: no delay, no loss\n", argv[3]);
    static struct heap h[2];
    h[0].a = malloc(MAX_QUEUED * sizeof *h[0].a), h[1].a = malloc(MAX_QUEUED * sizeof *h[1].a);
    unsigned char *buf = malloc(PKT_MAX);
    if (!h[0].a || !h[1].a || !buf) return 1;
    write_status(argv[4], h);
    printf("ready\n");
    fflush(stdout);
    uint64_t seq = 0, last_status = now_us();
    while (!got_stop) {
        if (got_hup) {
            got_hup = 0;
            if (load_conf(argv[3]) < 0) fprintf(stderr, "relay: bad %s: kept the old settings\n", argv[3]);
            write_status(argv[4], h);
        }
        uint64_t wait = release(fds, h);
        if (got_usr1 || now_us() - last_status > 1000000) {
            got_usr1 = 0, last_status = now_us();
            write_status(argv[4], h);
            if (parent > 0 && getppid() != parent) break;
        }
        struct pollfd pf[2] = {{fds[0], POLLIN, 0}, {fds[1], POLLIN, 0}};
        struct timespec ts = {(time_t)(wait / 1000000), (long)(wait % 1000000) * 1000};
        if (ppoll(pf, 2, &ts, &during_poll) < 0 && errno != EINTR) break;
        for (int dir = 0; dir < 2; dir++)
            if (pf[dir].revents & POLLIN) take(fds[dir], dir, &h[dir], buf, &seq);
    }
    write_status(argv[4], h);
    return 0;
}
