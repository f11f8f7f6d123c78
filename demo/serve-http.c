/*
 * coro-demo serve http: HTTP/1.1 (RFC 9112) with keep-alive and
 * pipelining. "/" answers 200 "hello\n" to any method (HEAD without the
 * body), any other target 404; a request body with a Content-Length is
 * read and dropped.
 *
 * The parser is a small one by hand rather than libhttp-parser (Debian's
 * libhttp-parser-dev): that library is no longer maintained upstream
 * (Node.js moved to llhttp), it would be a build dependency of the demo,
 * and this server needs only a subset that is short to check by the RFC:
 * the request line, header fields as name ":" OWS value OWS, and of those
 * only Content-Length, Transfer-Encoding, Connection, Host and Expect.
 * It parses the whole header section at once, once its end is there, from
 * the connection's buffer in place: no copy, no allocation.
 *
 * What it refuses, closing the connection after the answer: anything
 * malformed (400: a bad request line, a field name that is not a token, a
 * space before the colon, a bare CR or another control character, obs-fold
 * continuation lines, a bad or conflicting Content-Length, HTTP/1.1
 * without exactly one Host); a header section over 8 KiB (431); any
 * Transfer-Encoding, so chunked bodies (501); an HTTP major version other
 * than 1 (505). A bare LF is taken as a line's end (RFC 9112, 2.2), and
 * empty lines before a request are skipped.
 */
#include "config.h"

#include <stdint.h>
#include <string.h>
#include <time.h>

#include "serve.h"

/* The header section: the request line, the fields, the empty line. */
#define MAX_HEADER 8192
/* The largest answer, with room to spare. */
#define MAX_ANSWER 512

struct request {
    int minor;           /* HTTP/1.minor */
    int keep_alive;
    int head;            /* HEAD: the answer has no body */
    int root;            /* the target is "/" (with or without a query) */
    int expect_continue; /* Expect: 100-continue */
    int have_length;
    uint64_t length;     /* Content-Length */
};

/* ---------------------------------------------------------------------- */
/* The Date header, formatted once a second                                */

static struct {
    time_t sec;
    char text[29]; /* "Sun, 06 Nov 1994 08:49:37 GMT" */
} date = {-1, ""};

static void
put2(char *p, unsigned v)
{
    p[0] = (char)('0' + v / 10 % 10);
    p[1] = (char)('0' + v % 10);
}

/* The IMF-fixdate of t (RFC 9110, 5.6.7), by hand: gmtime_r() and
 * strftime() would do it on the connection's small stack, deeper than it
 * otherwise goes. The civil date is Howard Hinnant's days_from_civil()
 * inverted. */
static void
format_date(time_t t)
{
    static const char days[] = "ThuFriSatSunMonTueWed"; /* 1970-01-01 was a Thursday */
    static const char months[] = "MarAprMayJunJulAugSepOctNovDecJanFeb";
    int64_t z = t / 86400, s = t % 86400, era, doe, yoe, doy, mp, y;
    char *p = date.text;

    if (s < 0) {
        s += 86400;
        z--;
    }
    memcpy(p, days + 3 * ((z % 7 + 7) % 7), 3);
    z += 719468; /* days from 0000-03-01 */
    era = (z >= 0 ? z : z - 146096) / 146097;
    doe = z - era * 146097;
    yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    mp = (5 * doy + 2) / 153;
    y = yoe + era * 400 + (mp >= 10);
    memcpy(p + 3, ", ", 2);
    put2(p + 5, (unsigned)(doy - (153 * mp + 2) / 5 + 1));
    p[7] = ' ';
    memcpy(p + 8, months + 3 * mp, 3);
    p[11] = ' ';
    put2(p + 12, (unsigned)(y / 100));
    put2(p + 14, (unsigned)(y % 100));
    p[16] = ' ';
    put2(p + 17, (unsigned)(s / 3600));
    p[19] = ':';
    put2(p + 20, (unsigned)(s / 60 % 60));
    p[22] = ':';
    put2(p + 23, (unsigned)(s % 60));
    memcpy(p + 25, " GMT", 4);
    date.sec = t;
}

static void
put_date(void)
{
    struct timespec ts;

    /* The coarse clock is read without a system call (vDSO). */
    clock_gettime(CLOCK_REALTIME_COARSE, &ts);
    if (ts.tv_sec != date.sec)
        format_date(ts.tv_sec);
    SERVE_PUTS("Date: ");
    serve_put(date.text, sizeof date.text);
    SERVE_PUTS("\r\n");
}

/* ---------------------------------------------------------------------- */
/* Answers                                                                 */

static void
answer(struct serve_conn *c, const struct request *rq, const char *status, const char *body,
       size_t body_len)
{
    if (rq->expect_continue)
        SERVE_PUTS("HTTP/1.1 100 Continue\r\n\r\n");
    SERVE_PUTS("HTTP/1.1 ");
    serve_put(status, strlen(status));
    SERVE_PUTS("\r\nServer: coro-demo\r\n");
    put_date();
    SERVE_PUTS("Content-Type: text/plain\r\nContent-Length: ");
    serve_put_u64(body_len);
    if (c->close)
        SERVE_PUTS("\r\nConnection: close\r\n\r\n");
    else if (rq->minor == 0) /* kept open only because it asked */
        SERVE_PUTS("\r\nConnection: keep-alive\r\n\r\n");
    else
        SERVE_PUTS("\r\n\r\n");
    if (!rq->head)
        serve_put(body, body_len);
}

/* An error: the answer, then the connection closes. */
static void
refuse(struct serve_conn *c, int code)
{
    static const struct request rq = {.minor = 1};

    c->close = 1;
    serve_fail(c);
    switch (code) {
    case 400:
        answer(c, &rq, "400 Bad Request", "bad request\n", 12);
        break;
    case 431:
        answer(c, &rq, "431 Request Header Fields Too Large", "header too large\n", 17);
        break;
    case 501:
        answer(c, &rq, "501 Not Implemented", "transfer codings are not implemented\n", 37);
        break;
    default:
        answer(c, &rq, "505 HTTP Version Not Supported", "HTTP/1 only\n", 12);
        break;
    }
}

/* ---------------------------------------------------------------------- */
/* Parsing                                                                 */

/* tchar (RFC 9110, 5.6.2): the characters of methods and field names. */
static int
is_tchar(unsigned char c)
{
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'))
        return 1;
    return c != '\0' && strchr("!#$%&'*+-.^_`|~", c) != NULL;
}

/* The end of the header section in p[0..n): the offset after its empty
 * line, or 0 when it has not all come yet. *scan: where the search starts,
 * and is to start again next time. */
static size_t
header_end(const char *p, size_t n, size_t *scan)
{
    size_t i = *scan;

    while (i < n) {
        const char *nl = memchr(p + i, '\n', n - i);

        if (nl == NULL) {
            i = n;
            break;
        }
        i = (size_t)(nl - p);
        if (i + 1 >= n)
            break; /* cannot tell yet */
        if (p[i + 1] == '\n')
            return i + 2;
        if (p[i + 1] == '\r') {
            if (i + 2 >= n)
                break;
            if (p[i + 2] == '\n')
                return i + 3;
        }
        i++;
    }
    *scan = i;
    return 0;
}

/* The request line "METHOD SP TARGET SP HTTP/D.D" in p[0..n). */
static int
parse_request_line(const char *p, size_t n, struct request *rq)
{
    const char *q = p, *e = p + n, *t;

    while (q < e && is_tchar((unsigned char)*q))
        q++;
    if (q == p || q == e || *q != ' ')
        return 400;
    rq->head = q - p == 4 && memcmp(p, "HEAD", 4) == 0;
    t = ++q;
    while (q < e && (unsigned char)*q > ' ' && (unsigned char)*q < 0x7f)
        q++;
    if (q == t || q == e || *q != ' ')
        return 400;
    /* The absolute form (RFC 9112, 3.2.2) names the path after the authority. */
    if ((size_t)(q - t) > 7 && (memcmp(t, "http://", 7) == 0 || memcmp(t, "https://", 8) == 0)) {
        const char *slash = memchr(t + 8, '/', (size_t)(q - t - 8));

        rq->root = slash == NULL || slash + 1 == q || slash[1] == '?';
    } else {
        rq->root = t[0] == '/' && (t + 1 == q || t[1] == '?');
    }
    q++;
    if (e - q != 8 || memcmp(q, "HTTP/", 5) != 0 || q[5] < '0' || q[5] > '9' || q[6] != '.' ||
        q[7] < '0' || q[7] > '9')
        return 400;
    if (q[5] != '1')
        return 505;
    rq->minor = q[7] - '0';
    return 0;
}

/* Content-Length: 1*DIGIT; a repeated one must say the same. */
static int
parse_length(const char *v, size_t n, struct request *rq)
{
    uint64_t len = 0;

    if (n == 0 || n > 18)
        return 400;
    for (size_t i = 0; i < n; i++) {
        if (v[i] < '0' || v[i] > '9')
            return 400;
        len = len * 10 + (uint64_t)(v[i] - '0');
    }
    if (rq->have_length && rq->length != len)
        return 400;
    rq->have_length = 1;
    rq->length = len;
    return 0;
}

/* Connection: a comma-separated list of options. */
static void
parse_connection(const char *v, size_t n, int *close, int *keep)
{
    size_t i = 0;

    while (i < n) {
        size_t j = i, k;

        while (j < n && v[j] != ',')
            j++;
        k = j;
        while (i < k && (v[i] == ' ' || v[i] == '\t'))
            i++;
        while (k > i && (v[k - 1] == ' ' || v[k - 1] == '\t'))
            k--;
        if (serve_is(v + i, k - i, "close"))
            *close = 1;
        else if (serve_is(v + i, k - i, "keep-alive"))
            *keep = 1;
        i = j + 1;
    }
}

/* The header section p[0..n), which ends with its empty line. 0, or the
 * status of the refusal. */
static int
parse(const char *p, size_t n, struct request *rq)
{
    const char *e = p + n, *nl = memchr(p, '\n', n);
    int rc, close = 0, keep = 0, hosts = 0, te = 0;

    if ((rc = parse_request_line(p, (size_t)(nl - p) - (nl > p && nl[-1] == '\r'), rq)) != 0)
        return rc;
    for (p = nl + 1; p < e; p = nl + 1) {
        const char *name = p, *v, *ve;
        size_t len;

        nl = memchr(p, '\n', (size_t)(e - p));
        len = (size_t)(nl - p) - (nl > p && nl[-1] == '\r');
        if (len == 0)
            break; /* the empty line */
        while (p < name + len && is_tchar((unsigned char)*p))
            p++;
        if (p == name || p == name + len || *p != ':')
            return 400; /* no name, no colon, a space before it, or obs-fold */
        v = p + 1;
        ve = name + len;
        for (const char *q = v; q < ve; q++)
            if (((unsigned char)*q < ' ' && *q != '\t') || *q == 0x7f)
                return 400; /* a bare CR, NUL, another control character */
        while (v < ve && (*v == ' ' || *v == '\t'))
            v++;
        while (ve > v && (ve[-1] == ' ' || ve[-1] == '\t'))
            ve--;
        len = (size_t)(p - name);
        if (serve_is(name, len, "content-length")) {
            if ((rc = parse_length(v, (size_t)(ve - v), rq)) != 0)
                return rc;
        } else if (serve_is(name, len, "connection")) {
            parse_connection(v, (size_t)(ve - v), &close, &keep);
        } else if (serve_is(name, len, "host")) {
            hosts++;
        } else if (serve_is(name, len, "transfer-encoding")) {
            te = 1;
        } else if (serve_is(name, len, "expect")) {
            rq->expect_continue = serve_is(v, (size_t)(ve - v), "100-continue");
        }
    }
    if (rq->minor >= 1 && hosts != 1)
        return 400; /* RFC 9112, 3.2 */
    if (te)
        return 501;
    rq->keep_alive = !close && (rq->minor >= 1 || keep);
    rq->expect_continue = rq->expect_continue && rq->minor >= 1 && rq->length > 0;
    return 0;
}

/* ---------------------------------------------------------------------- */
/* The protocol                                                            */

static size_t
handle(struct serve_conn *c, const char *p, size_t n)
{
    size_t used = 0;

    while (used < n) {
        struct request rq = {0};
        size_t end;
        int rc;

        if (c->discard > 0) { /* a body: dropped */
            size_t k = n - used < c->discard ? n - used : (size_t)c->discard;

            used += k;
            c->discard -= k;
            continue;
        }
        if (p[used] == '\n' || (p[used] == '\r' && n - used >= 2 && p[used + 1] == '\n')) {
            used += p[used] == '\n' ? 1 : 2; /* an empty line before a request */
            c->scan = 0;
            continue;
        }
        if ((end = header_end(p + used, n - used, &c->scan)) == 0) {
            if (n - used >= MAX_HEADER && serve_room(MAX_ANSWER))
                refuse(c, 431);
            return used; /* the rest is yet to come */
        }
        c->scan = 0;
        if (!serve_room(MAX_ANSWER))
            return used;
        if (end > MAX_HEADER) {
            refuse(c, 431);
            return used;
        }
        if ((rc = parse(p + used, end, &rq)) != 0) {
            refuse(c, rc);
            return used;
        }
        used += end;
        c->discard = rq.length;
        c->close = !rq.keep_alive || serve.stopping;
        if (rq.root)
            answer(c, &rq, "200 OK", "hello\n", 6);
        else
            answer(c, &rq, "404 Not Found", "not found\n", 10);
        serve.stats.requests++;
        if (c->close)
            return used;
    }
    return used;
}

static void
too_large(struct serve_conn *c)
{
    if (serve_room(MAX_ANSWER))
        refuse(c, 431);
    else
        c->close = 1;
}

const struct serve_proto serve_http = {
    .name = "http",
    .port = 8080,
    .max_partial = MAX_HEADER,
    .handle = handle,
    .too_large = too_large,
};
