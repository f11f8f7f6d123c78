/*
 * coro-demo serve resp: a Redis server, RESP2 (the protocol of redis-cli
 * and redis-benchmark), with its keys in a hash table in memory, one per
 * process: PING, ECHO, SET, GET, DEL, EXISTS, INCR, COMMAND (an empty
 * array), CONFIG GET (of "save" and "appendonly" only) and QUIT.
 *
 * A command is an array of bulk strings ("*2\r\n$3\r\nGET\r\n$1\r\nk\r\n")
 * or an inline line ("PING\r\n", split at blanks, without Redis's quoting).
 * It is answered once it has all come, with its arguments pointing into the
 * read buffer: nothing is copied but what SET stores. An unknown command or
 * a wrong number of arguments is an -ERR answer, and the connection goes
 * on; a protocol error (a bad length, a missing CRLF, more than 1024
 * arguments, an argument over 1 MiB, an inline line over 64 KiB) is an
 * -ERR answer, and the connection closes, as with Redis.
 */
#include "config.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/auxv.h>

#include "demo.h"
#include "serve.h"

#define MAX_ARGS 1024
#define MAX_BULK ((size_t)1024 * 1024)
#define MAX_INLINE ((size_t)64 * 1024)
/* Room for every answer but a bulk string: errors, integers, +OK. */
#define SMALL_ANSWER 256

/* The command being answered: its arguments, in the read buffer. */
struct arg {
    const char *p;
    size_t n;
};
static struct arg argv[MAX_ARGS];
static int argc;

/* ---------------------------------------------------------------------- */
/* The keys                                                                */

struct entry {
    struct entry *next; /* in its slot's chain */
    uint64_t hash;
    uint32_t klen, vlen, vcap;
    char data[]; /* the key, then room for vcap bytes of value */
};

static struct {
    struct entry **slot;
    size_t mask; /* slots - 1 */
    size_t count;
    uint64_t seed; /* so that clients cannot pick colliding keys */
} table;

/* FNV-1a from a random start, then a finaliser (MurmurHash3's) that mixes
 * the high bits into the low ones, which pick the slot. */
static uint64_t
hash(const char *p, size_t n)
{
    uint64_t h = table.seed;

    for (size_t i = 0; i < n; i++)
        h = (h ^ (unsigned char)p[i]) * 0x100000001b3;
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccd;
    h ^= h >> 33;
    return h;
}

/* Where key k is linked, or where it would be linked (*result NULL). */
static struct entry **
find(const struct arg *k, uint64_t h)
{
    struct entry **e = &table.slot[h & table.mask];

    while (*e && ((*e)->hash != h || (*e)->klen != k->n || memcmp((*e)->data, k->p, k->n) != 0))
        e = &(*e)->next;
    return e;
}

/* Twice the slots, when there is memory for them (else the chains grow). */
static void
grow(void)
{
    size_t n = (table.mask + 1) * 2;
    struct entry **slot = calloc(n, sizeof *slot);

    if (slot == NULL)
        return;
    for (size_t i = 0; i <= table.mask; i++) {
        for (struct entry *e = table.slot[i], *next; e; e = next) {
            next = e->next;
            e->next = slot[e->hash & (n - 1)];
            slot[e->hash & (n - 1)] = e;
        }
    }
    free(table.slot);
    table.slot = slot;
    table.mask = n - 1;
}

/* Set key k to v[0..vn), in place when the old value's room is enough.
 * 0, or -1 with no memory. */
static int
store(const struct arg *k, const char *v, size_t vn)
{
    uint64_t h = hash(k->p, k->n);
    struct entry **link = find(k, h), *e = *link;

    if (e && vn <= e->vcap) {
        memcpy(e->data + e->klen, v, vn);
        e->vlen = (uint32_t)vn;
        return 0;
    }
    /* A new one, or a bigger one: room for a little more, for INCR and
     * values that change size. */
    size_t cap = (vn + 15) & ~(size_t)15;
    struct entry *n = realloc(e, sizeof *n + k->n + cap);

    if (n == NULL)
        return -1;
    if (e == NULL) {
        n->next = NULL;
        n->hash = h;
        n->klen = (uint32_t)k->n;
        memcpy(n->data, k->p, k->n);
        table.count++;
    }
    memcpy(n->data + n->klen, v, vn);
    n->vlen = (uint32_t)vn;
    n->vcap = (uint32_t)cap;
    *link = n;
    if (e == NULL && table.count > table.mask + 1)
        grow();
    return 0;
}

static struct entry *
lookup(const struct arg *k)
{
    return *find(k, hash(k->p, k->n));
}

static int
drop(const struct arg *k)
{
    struct entry **link = find(k, hash(k->p, k->n)), *e = *link;

    if (e == NULL)
        return 0;
    *link = e->next;
    free(e);
    table.count--;
    return 1;
}

static int
init(void)
{
    const unsigned char *r = (const unsigned char *)getauxval(AT_RANDOM);

    table.mask = 1023;
    if ((table.slot = calloc(table.mask + 1, sizeof *table.slot)) == NULL) {
        demo_error(serve.who, "calloc: no memory for the keys");
        return -1;
    }
    table.seed = 0xcbf29ce484222325;
    if (r)
        for (int i = 0; i < 8; i++)
            table.seed ^= (uint64_t)r[i] << (8 * i);
    return 0;
}

static void
fini(void)
{
    for (size_t i = 0; table.slot && i <= table.mask; i++) {
        for (struct entry *e = table.slot[i], *next; e; e = next) {
            next = e->next;
            free(e);
        }
    }
    free(table.slot);
    table.slot = NULL;
}

/* ---------------------------------------------------------------------- */
/* Answers                                                                 */

static void
put_bulk(const char *p, size_t n)
{
    SERVE_PUTS("$");
    serve_put_u64(n);
    SERVE_PUTS("\r\n");
    serve_put(p, n);
    SERVE_PUTS("\r\n");
}

static void
put_int(int64_t v)
{
    SERVE_PUTS(":");
    serve_put_i64(v);
    SERVE_PUTS("\r\n");
}

/* At most max bytes of s, each control character as a blank: what a
 * client sent, quoted in an error line, cannot end the line early. */
static void
put_quoted(const char *s, size_t n, size_t max)
{
    if (n > max)
        n = max;
    for (size_t i = 0; i < n; i++) {
        char ch = (unsigned char)s[i] < ' ' || s[i] == 0x7f ? ' ' : s[i];

        serve_put(&ch, 1);
    }
}

/* "-ERR wrong number of arguments for 'get' command" */
static void
put_arity_error(const char *name)
{
    SERVE_PUTS("-ERR wrong number of arguments for '");
    serve_put(name, strlen(name));
    SERVE_PUTS("' command\r\n");
}

/* ---------------------------------------------------------------------- */
/* Commands: each has SMALL_ANSWER bytes of room; one that answers with a
 * bulk string checks for more, and returns -1 (having done nothing) when
 * there is not enough: it is run again once the answers so far are out. */

static int
cmd_ping(struct serve_conn *c)
{
    if (argc > 2) {
        put_arity_error("ping");
        return 0;
    }
    if (argc == 1) {
        SERVE_PUTS("+PONG\r\n");
        return 0;
    }
    if (!serve_room(argv[1].n + 32))
        return -1;
    put_bulk(argv[1].p, argv[1].n);
    return 0;
}

static int
cmd_echo(struct serve_conn *c)
{
    if (!serve_room(argv[1].n + 32))
        return -1;
    put_bulk(argv[1].p, argv[1].n);
    return 0;
}

static int
cmd_get(struct serve_conn *c)
{
    const struct entry *e = lookup(&argv[1]);

    if (e == NULL) {
        SERVE_PUTS("$-1\r\n");
        return 0;
    }
    if (!serve_room((size_t)e->vlen + 32))
        return -1;
    put_bulk(e->data + e->klen, e->vlen);
    return 0;
}

static int
cmd_set(struct serve_conn *c)
{
    if (argc > 3) /* NX, XX, EX, PX, GET, KEEPTTL: not here */
        SERVE_PUTS("-ERR syntax error\r\n");
    else if (store(&argv[1], argv[2].p, argv[2].n) == -1)
        SERVE_PUTS("-ERR out of memory\r\n");
    else
        SERVE_PUTS("+OK\r\n");
    return 0;
}

static int
cmd_del(struct serve_conn *c)
{
    int64_t n = 0;

    for (int i = 1; i < argc; i++)
        n += drop(&argv[i]);
    put_int(n);
    return 0;
}

static int
cmd_exists(struct serve_conn *c)
{
    int64_t n = 0;

    for (int i = 1; i < argc; i++) /* a key named twice counts twice, as in Redis */
        n += lookup(&argv[i]) != NULL;
    put_int(n);
    return 0;
}

/* A value as Redis reads an integer (string2ll()): an optional '-', then
 * digits without leading zeros, in the range of int64_t. */
static int
to_int(const char *p, size_t n, int64_t *out)
{
    uint64_t v = 0, max = INT64_MAX;
    size_t i = 0;
    int neg = n > 0 && p[0] == '-';

    if (neg) {
        i = 1;
        max = (uint64_t)INT64_MAX + 1;
    }
    if (i == n || n - i > 19 || (p[i] == '0' && (n - i > 1 || neg)))
        return -1;
    for (; i < n; i++) {
        if (p[i] < '0' || p[i] > '9' || v > (max - (uint64_t)(p[i] - '0')) / 10)
            return -1;
        v = v * 10 + (uint64_t)(p[i] - '0');
    }
    *out = neg ? (int64_t)(0 - v) : (int64_t)v;
    return 0;
}

static int
cmd_incr(struct serve_conn *c)
{
    const struct entry *e = lookup(&argv[1]);
    char text[24];
    size_t n = 0;
    int64_t v = 0;
    uint64_t u;

    if (e && to_int(e->data + e->klen, e->vlen, &v) == -1) {
        SERVE_PUTS("-ERR value is not an integer or out of range\r\n");
        return 0;
    }
    if (v == INT64_MAX) {
        SERVE_PUTS("-ERR increment or decrement would overflow\r\n");
        return 0;
    }
    v++;
    u = v < 0 ? -(uint64_t)v : (uint64_t)v;
    do {
        text[sizeof text - ++n] = (char)('0' + u % 10);
        u /= 10;
    } while (u);
    if (v < 0)
        text[sizeof text - ++n] = '-';
    if (store(&argv[1], text + sizeof text - n, n) == -1) {
        SERVE_PUTS("-ERR out of memory\r\n");
        return 0;
    }
    put_int(v);
    return 0;
}

/* COMMAND (redis-cli asks for COMMAND DOCS): nothing to tell. */
static int
cmd_command(struct serve_conn *c)
{
    SERVE_PUTS("*0\r\n");
    return 0;
}

/* CONFIG GET: the two parameters that redis-benchmark asks for ("save" and
 * "appendonly", for its report; an empty array makes it warn), by their
 * names, not glob patterns; nothing for any other. */
static int
cmd_config(struct serve_conn *c)
{
    static const char *const params[][2] = {{"save", ""}, {"appendonly", "no"}};
    const char *found[2 * 2];
    size_t n = 0;

    if (!serve_is(argv[1].p, argv[1].n, "get")) {
        SERVE_PUTS("-ERR unknown subcommand '");
        put_quoted(argv[1].p, argv[1].n, 64);
        SERVE_PUTS("'. Try CONFIG HELP.\r\n");
        return 0;
    }
    if (argc < 3) {
        put_arity_error("config|get");
        return 0;
    }
    for (size_t i = 0; i < 2; i++) {
        for (int a = 2; a < argc; a++) {
            if (serve_is(argv[a].p, argv[a].n, params[i][0])) {
                found[n++] = params[i][0];
                found[n++] = params[i][1];
                break;
            }
        }
    }
    SERVE_PUTS("*");
    serve_put_u64(n);
    SERVE_PUTS("\r\n");
    for (size_t i = 0; i < n; i++)
        put_bulk(found[i], strlen(found[i]));
    return 0;
}

static int
cmd_quit(struct serve_conn *c)
{
    SERVE_PUTS("+OK\r\n");
    c->close = 1;
    return 0;
}

struct command {
    const char *name; /* lower case */
    int arity;        /* Redis's: n exactly n arguments (with the name), -n at least n */
    int (*run)(struct serve_conn *c);
};

static const struct command commands[] = {
    {"get", 2, cmd_get},
    {"set", -3, cmd_set},
    {"ping", -1, cmd_ping},
    {"incr", 2, cmd_incr},
    {"del", -2, cmd_del},
    {"exists", -2, cmd_exists},
    {"echo", 2, cmd_echo},
    {"command", -1, cmd_command},
    {"config", -2, cmd_config},
    {"quit", -1, cmd_quit},
};

/* Run the command in argv. 0, or -1 when there was no room (nothing done). */
static int
run(struct serve_conn *c)
{
    if (!serve_room(SMALL_ANSWER))
        return -1;
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++) {
        const struct command *cmd = &commands[i];

        if (!serve_is(argv[0].p, argv[0].n, cmd->name))
            continue;
        if (cmd->arity > 0 ? argc != cmd->arity : argc < -cmd->arity) {
            put_arity_error(cmd->name);
            return 0;
        }
        return cmd->run(c);
    }
    SERVE_PUTS("-ERR unknown command '");
    put_quoted(argv[0].p, argv[0].n, 64);
    SERVE_PUTS("', with args beginning with: ");
    for (int i = 1; i < argc && i <= 3; i++) {
        SERVE_PUTS("'");
        put_quoted(argv[i].p, argv[i].n, 32);
        SERVE_PUTS("' ");
    }
    SERVE_PUTS("\r\n");
    return 0;
}

/* ---------------------------------------------------------------------- */
/* Parsing                                                                 */

/* The integer on the line p[1..CR) of p[0..n), after the type byte: 1,
 * with *v and *adv (the bytes up to past the CRLF); 0 when the line has not
 * all come; -1 when it is not an integer. */
static int
number_line(const char *p, size_t n, long long *v, size_t *adv)
{
    size_t lim = n < 24 ? n : 24; /* the type, a sign, 19 digits, CR, LF */
    const char *cr = memchr(p + 1, '\r', lim - 1), *q = p + 1;
    long long x = 0;
    int neg;

    if (cr == NULL)
        return lim < 24 ? 0 : -1;
    if ((size_t)(cr - p) + 1 >= n)
        return 0;
    if (cr[1] != '\n')
        return -1;
    neg = *q == '-';
    q += neg;
    if (q == cr || cr - q > 18)
        return -1;
    for (; q < cr; q++) {
        if (*q < '0' || *q > '9')
            return -1;
        x = x * 10 + (*q - '0');
    }
    *v = neg ? -x : x;
    *adv = (size_t)(cr + 2 - p);
    return 1;
}

/* A command as an array of bulk strings, at p[0..n): 1 with the arguments
 * in argv and its length in *len; 0 when it has not all come; -1 with
 * *err for a protocol error. */
static int
parse_array(const char *p, size_t n, size_t *len, const char **err)
{
    long long count, blen;
    size_t off, adv;
    int rc = number_line(p, n, &count, &off);

    if (rc <= 0 || count > MAX_ARGS) {
        *err = "invalid multibulk length";
        return rc == 0 ? 0 : -1;
    }
    argc = 0;
    for (long long i = 0; i < count; i++) {
        if (off >= n)
            return 0;
        if (p[off] != '$') {
            *err = "expected '$'";
            return -1;
        }
        if ((rc = number_line(p + off, n - off, &blen, &adv)) <= 0 || blen < 0 ||
            (size_t)blen > MAX_BULK) {
            *err = "invalid bulk length";
            return rc == 0 ? 0 : -1;
        }
        off += adv;
        if (n - off < (size_t)blen + 2)
            return 0;
        if (p[off + (size_t)blen] != '\r' || p[off + (size_t)blen + 1] != '\n') {
            *err = "expected CRLF after a bulk string";
            return -1;
        }
        argv[argc++] = (struct arg){p + off, (size_t)blen};
        off += (size_t)blen + 2;
    }
    *len = off; /* count <= 0: nothing to run, as in Redis */
    return 1;
}

/* An inline command: one line, its arguments separated by blanks. */
static int
parse_inline(const char *p, size_t n, size_t *len, const char **err)
{
    const char *nl = memchr(p, '\n', n < MAX_INLINE ? n : MAX_INLINE), *q = p, *e;

    if (nl == NULL) {
        *err = "too big inline request";
        return n < MAX_INLINE ? 0 : -1;
    }
    e = nl > p && nl[-1] == '\r' ? nl - 1 : nl;
    argc = 0;
    for (;;) {
        const char *a;

        while (q < e && (*q == ' ' || *q == '\t'))
            q++;
        if (q == e)
            break;
        if (argc == MAX_ARGS) {
            *err = "too many arguments";
            return -1;
        }
        for (a = q; q < e && *q != ' ' && *q != '\t'; q++)
            ;
        argv[argc++] = (struct arg){a, (size_t)(q - a)};
    }
    *len = (size_t)(nl + 1 - p);
    return 1;
}

static void
protocol_error(struct serve_conn *c, const char *err)
{
    SERVE_PUTS("-ERR Protocol error: ");
    serve_put(err, strlen(err));
    SERVE_PUTS("\r\n");
    c->close = 1;
    serve_fail(c);
}

static size_t
handle(struct serve_conn *c, const char *p, size_t n)
{
    size_t used = 0;

    while (used < n && !c->close) {
        const char *err = NULL;
        size_t len = 0;
        int rc = p[used] == '*' ? parse_array(p + used, n - used, &len, &err)
                                : parse_inline(p + used, n - used, &len, &err);

        if (rc == 0)
            return used; /* the rest is yet to come */
        if (rc == -1) {
            if (serve_room(SMALL_ANSWER))
                protocol_error(c, err);
            return used;
        }
        if (argc == 0) { /* an empty line or array */
            used += len;
            continue;
        }
        if (run(c) == -1)
            return used; /* no room: again after a flush */
        used += len;
        serve.stats.requests++;
    }
    return used;
}

static void
too_large(struct serve_conn *c)
{
    if (serve_room(SMALL_ANSWER))
        protocol_error(c, "command too large");
    else
        c->close = 1;
}

const struct serve_proto serve_resp = {
    .name = "resp",
    .port = 6379,
    .max_partial = MAX_BULK + 64 * 1024,
    .handle = handle,
    .too_large = too_large,
    .init = init,
    .fini = fini,
};
