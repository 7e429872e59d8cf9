// uring-floor: the benchmark's FUSE floor (one constant direct-I/O file, "file") answered over
// FUSE-over-io_uring (Linux 6.14+, fuse.enable_uring=Y) instead of /dev/fuse read and write, so
// that make bench measures what that transport would give procfsd. A prototype for
// measurement only: procfsd itself does not speak io_uring yet (BENCHMARKS.md "FUSE over
// io_uring").
//
// Usage: uring-floor MOUNTPOINT CONTENT-FILE. One thread per CPU, pinned to it, owns that CPU's
// queue (the kernel queues a request on the queue of the CPU its caller runs on) with DEPTH ring
// entries; a classic /dev/fuse thread answers INIT and whatever the kernel still sends there
// (FORGET, INTERRUPT, and everything until every queue has an entry).
//
// On SIGHUP it re-executes itself as `uring-floor --adopt FD CONTENT-FILE`, keeping the
// /dev/fuse descriptor, as procfsd does on an upgrade; the successor skips mount and INIT and
// registers new ring entries. That is how the handover was tested (BENCHMARKS.md): read the file
// in a loop, send SIGHUP, and a reader whose request sat in an entry of the old process stays
// blocked in request_wait_answer on Linux 6.18, while new reads are answered.
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <liburing.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

// Protocol constants and layouts from include/uapi/linux/fuse.h (7.42+): the system's headers
// may predate FUSE over io_uring.
#define FUSE_INIT_EXT (1u << 30)
#define FUSE_MAX_PAGES (1u << 22)
#define FUSE_ASYNC_READ (1u << 0)
#define FUSE_OVER_IO_URING_HI (1u << 9) /* 1ULL<<41 in flags2 */
#define FOPEN_DIRECT_IO 1
#define CMD_REGISTER 1
#define CMD_COMMIT_AND_FETCH 2

struct in_header { uint32_t len, opcode; uint64_t unique, nodeid; uint32_t uid, gid, pid; uint16_t total_extlen, padding; };
struct out_header { uint32_t len; int32_t error; uint64_t unique; };
struct attr { uint64_t ino, size, blocks, atime, mtime, ctime; uint32_t atimensec, mtimensec, ctimensec, mode, nlink, uid, gid, rdev, blksize, flags; };
struct entry_out { uint64_t nodeid, generation, entry_valid, attr_valid; uint32_t entry_valid_nsec, attr_valid_nsec; struct attr attr; };
struct attr_out { uint64_t attr_valid; uint32_t attr_valid_nsec, dummy; struct attr attr; };
struct open_out { uint64_t fh; uint32_t open_flags; int32_t backing_id; };
struct read_in { uint64_t fh, offset; uint32_t size, read_flags; uint64_t lock_owner; uint32_t flags, padding; };
struct init_in { uint32_t major, minor, max_readahead, flags, flags2, unused[11]; };
struct init_out { uint32_t major, minor, max_readahead, flags; uint16_t max_background, congestion_threshold; uint32_t max_write, time_gran; uint16_t max_pages, map_alignment; uint32_t flags2, max_stack_depth; uint16_t request_timeout; uint16_t unused[11]; };
struct ent_in_out { uint64_t flags, commit_id; uint32_t payload_sz, padding; uint64_t reserved; };
struct req_header { char in_out[128]; char op_in[128]; struct ent_in_out ent; };
struct cmd_req { uint64_t flags, commit_id; uint16_t qid; uint8_t padding[6]; };

static int fd;
static volatile int initialized;
static char *content;
static size_t content_len;
#define PAYLOAD (128 * 1024 + 4096)
#define DEPTH 2

static void fill_attr(uint64_t ino, struct attr *a) {
	memset(a, 0, sizeof *a);
	a->ino = ino;
	a->mode = ino == 1 ? (S_IFDIR | 0755) : (S_IFREG | 0444);
	a->nlink = ino == 1 ? 2 : 1;
}

// handle answers one request: out gets the reply's arguments; returns their length, or -errno,
// or -1000 for no reply.
static int handle(const struct in_header *h, const void *opin, const char *payload, char *out) {
	switch (h->opcode) {
	case 1: { // LOOKUP: the name is the payload (ring) or follows the header (classic)
		if (h->nodeid != 1 || strcmp(payload, "file")) return -ENOENT;
		struct entry_out *e = (void *)out;
		memset(e, 0, sizeof *e);
		e->nodeid = 2; e->entry_valid = 3600; e->attr_valid = 3600;
		fill_attr(2, &e->attr);
		return sizeof *e;
	}
	case 3: { // GETATTR
		struct attr_out *a = (void *)out;
		memset(a, 0, sizeof *a);
		a->attr_valid = 3600;
		fill_attr(h->nodeid, &a->attr);
		return sizeof *a;
	}
	case 14: { // OPEN
		struct open_out *o = (void *)out;
		memset(o, 0, sizeof *o);
		o->fh = 1; o->open_flags = FOPEN_DIRECT_IO;
		return sizeof *o;
	}
	case 15: { // READ
		const struct read_in *r = opin;
		size_t n = content_len;
		if (r->offset >= n) return 0;
		size_t m = n - r->offset;
		if (m > r->size) m = r->size;
		memcpy(out, content + r->offset, m);
		return m;
	}
	case 18: return 0; // RELEASE
	case 17: memset(out, 0, 80); return 80; // STATFS
	case 2: case 42: case 36: return -1000; // FORGET, BATCH_FORGET, INTERRUPT
	default: return -ENOSYS;
	}
}

static void *classic(void *arg) {
	(void)arg;
	static char buf[PAYLOAD + 4096], out[PAYLOAD + 4096];
	for (;;) {
		ssize_t n = read(fd, buf, sizeof buf);
		if (n < 0) {
			if (errno == EINTR || errno == ENOENT) continue;
			perror("read /dev/fuse");
			exit(1);
		}
		struct in_header *h = (void *)buf;
		struct out_header *oh = (void *)out;
		int len;
		if (h->opcode == 26) { // INIT
			struct init_in *in = (void *)(buf + sizeof *h);
			struct init_out *o = (void *)(out + sizeof *oh);
			memset(o, 0, sizeof *o);
			o->major = 7; o->minor = in->minor < 42 ? in->minor : 42;
			o->max_readahead = in->max_readahead;
			o->flags = (in->flags & (FUSE_ASYNC_READ | FUSE_MAX_PAGES)) | FUSE_INIT_EXT;
			o->flags2 = FUSE_OVER_IO_URING_HI;
			o->max_background = 1024; o->congestion_threshold = 768;
			o->max_write = 128 * 1024; o->max_pages = 32; o->time_gran = 1;
			fprintf(stderr, "INIT kernel %u.%u flags %#x flags2 %#x\n", in->major, in->minor, in->flags, in->flags2);
			len = sizeof *o;
		} else {
			const char *opin = buf + sizeof *h;
			len = handle(h, opin, opin, out + sizeof *oh);
		}
		if (len == -1000) continue;
		oh->unique = h->unique;
		oh->error = len < 0 ? len : 0;
		oh->len = sizeof *oh + (len > 0 ? len : 0);
		if (write(fd, out, oh->len) < 0 && errno != ENOENT) perror("write /dev/fuse");
		if (h->opcode == 26) __atomic_store_n(&initialized, 1, __ATOMIC_SEQ_CST);
	}
	return NULL;
}

struct ent { struct req_header *hdr; char *payload; struct iovec iov[2]; };

static void prep(struct io_uring *ring, struct ent *e, int qid, uint32_t op, uint64_t commit) {
	struct io_uring_sqe *sqe = io_uring_get_sqe(ring);
	io_uring_prep_rw(IORING_OP_URING_CMD, sqe, fd, e->iov, 2, 0);
	sqe->cmd_op = op;
	sqe->user_data = (uintptr_t)e;
	struct cmd_req *c = (void *)sqe->cmd;
	memset(c, 0, sizeof *c);
	c->qid = qid;
	c->commit_id = commit;
}

static void *queue(void *arg) {
	int qid = (int)(intptr_t)arg;
	cpu_set_t set;
	CPU_ZERO(&set);
	CPU_SET(qid, &set);
	pthread_setaffinity_np(pthread_self(), sizeof set, &set);
	struct io_uring ring;
	int r = io_uring_queue_init(8, &ring, IORING_SETUP_SQE128 | IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_COOP_TASKRUN);
	if (r < 0) { fprintf(stderr, "queue_init: %s\n", strerror(-r)); exit(1); }
	struct ent ents[DEPTH];
	for (int i = 0; i < DEPTH; i++) {
		ents[i].hdr = aligned_alloc(4096, 4096);
		ents[i].payload = aligned_alloc(4096, PAYLOAD);
		memset(ents[i].hdr, 0, 4096);
		ents[i].iov[0] = (struct iovec){ents[i].hdr, sizeof(struct req_header)};
		ents[i].iov[1] = (struct iovec){ents[i].payload, PAYLOAD};
		prep(&ring, &ents[i], qid, CMD_REGISTER, 0);
	}
	io_uring_submit(&ring);
	static __thread char out[PAYLOAD];
	for (;;) {
		struct io_uring_cqe *cqe;
		r = io_uring_wait_cqe(&ring, &cqe);
		if (r == -EINTR) continue;
		if (r < 0) { fprintf(stderr, "wait_cqe: %s\n", strerror(-r)); exit(1); }
		struct ent *e = (void *)(uintptr_t)cqe->user_data;
		int res = cqe->res;
		io_uring_cqe_seen(&ring, cqe);
		if (res < 0) { fprintf(stderr, "q%d cmd: %s\n", qid, strerror(-res)); exit(1); }
		struct in_header *h = (void *)e->hdr->in_out;
		uint64_t commit = e->hdr->ent.commit_id;
		e->payload[e->hdr->ent.payload_sz < PAYLOAD ? e->hdr->ent.payload_sz : PAYLOAD - 1] = 0;
		int len = handle(h, e->hdr->op_in, e->payload, out);
		struct out_header *oh = (void *)e->hdr->in_out;
		uint64_t unique = h->unique;
		oh->unique = unique;
		oh->error = len < 0 ? len : 0;
		if (len < 0) len = 0;
		oh->len = sizeof *oh + len;
		memcpy(e->payload, out, len);
		e->hdr->ent.payload_sz = len;
		prep(&ring, e, qid, CMD_COMMIT_AND_FETCH, commit);
		io_uring_submit(&ring);
	}
	return NULL;
}

static const char *content_path;

// reexec replaces the process with `uring-floor --adopt FD CONTENT-FILE` (SIGHUP).
static void reexec(int sig) {
	(void)sig;
	char fdarg[16];
	snprintf(fdarg, sizeof fdarg, "%d", fd);
	execl("/proc/self/exe", "uring-floor", "--adopt", fdarg, content_path, (char *)NULL);
	_exit(1);
}

static void load_content(const char *path) {
	FILE *cf = fopen(path, "r");
	if (!cf) { perror("open content"); exit(1); }
	content = malloc(1 << 20);
	content_len = fread(content, 1, 1 << 20, cf);
	fclose(cf);
	content_path = path;
}

static void start_queues(void) {
	int n = sysconf(_SC_NPROCESSORS_CONF);
	for (int q = 0; q < n; q++) {
		pthread_t qt;
		pthread_create(&qt, NULL, queue, (void *)(intptr_t)q);
	}
}

int main(int argc, char **argv) {
	// The handler runs with SIGHUP blocked, and exec keeps the mask: unblock it for the next one.
	sigset_t hup;
	sigemptyset(&hup);
	sigaddset(&hup, SIGHUP);
	sigprocmask(SIG_UNBLOCK, &hup, NULL);
	signal(SIGHUP, reexec);
	if (argc == 4 && !strcmp(argv[1], "--adopt")) { // a successor: the connection is set up
		fd = atoi(argv[2]);
		load_content(argv[3]);
		initialized = 1;
		pthread_t t;
		pthread_create(&t, NULL, classic, NULL);
		start_queues();
		pthread_join(t, NULL);
		return 0;
	}
	if (argc != 3) { fprintf(stderr, "usage: uring-floor MOUNTPOINT CONTENT-FILE\n"); return 2; }
	load_content(argv[2]);
	fd = open("/dev/fuse", O_RDWR); // no O_CLOEXEC: a successor inherits it (SIGHUP)
	if (fd < 0) { perror("open /dev/fuse"); return 1; }
	char opts[256];
	snprintf(opts, sizeof opts, "fd=%d,rootmode=40000,user_id=0,group_id=0,allow_other,max_read=131072", fd);
	mkdir(argv[1], 0755);
	if (mount("uring-floor", argv[1], "fuse.uring-floor", MS_NOSUID | MS_NODEV, opts) < 0) { perror("mount"); return 1; }
	pthread_t t;
	pthread_create(&t, NULL, classic, NULL);
	// INIT must be answered before the queues register (the kernel sizes payloads from it); a
	// request sent meanwhile waits in the kernel until every queue has an entry.
	while (!__atomic_load_n(&initialized, __ATOMIC_SEQ_CST)) usleep(1000);
	start_queues();
	pthread_join(t, NULL);
	return 0;
}
