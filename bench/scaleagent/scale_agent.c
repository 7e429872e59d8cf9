// scale-agent: the init of one container of the benchmark's scale run (bench/scale.go).
// It is C, not Go, because 1000 of them share two CPUs with the daemons they measure: Go inits
// there spent a third of the machine on their runtimes (sysmon retaking scheduler slots from
// threads blocked in FUSE reads), so readings came seconds late and the run measured itself.
//
// Usage: scale-agent -t NAME=TEMPLATE [-t ...] -f FILE[,FILE...] -p PHASE_MS -r READ_FOR_MS
//                    [-b HOLD_AT_MS -d HOLD_FOR_MS] [-w WARMUP_MS] [-g GRACE_MS]
// TEMPLATE is a path with %s for the file name ("/mnt/procfsd/proc/%s").
//
// It starts two sleeping processes (with unshare and itself, four live processes per
// container), waits for the harness's start signal (EOF on descriptor 3), waits WARMUP_MS, and
// then reads every FILE of every target once a second, at PHASE_MS within each second, for
// READ_FOR_MS; each target has a thread of its own, so one daemon's slow answers never delay the
// other's readings. From HOLD_AT_MS for HOLD_FOR_MS it holds four processes in state D, which
// every load average counts (kernel/sched/loadavg.c counts TASK_UNINTERRUPTIBLE; procfsd and
// LXCFS count state D in /proc/<tid>/stat) at no CPU cost: each is the parent of a
// clone(CLONE_VFORK) child that sleeps, and a vfork parent waits in TASK_KILLABLE
// (kernel/fork.c, wait_for_vfork_done). The holders are forked at start, before any daemon's
// file is open (start_holders says why).
//
// When every reading thread is done, or GRACE_MS (default 10 s) after READ_FOR_MS, whichever
// comes first, it prints one line per event and sleeps until the harness kills the container:
//   read TARGET FILE DUE START END ERRNO LOAD1   (ns after the first due time; LOAD1 "-" unless
//                                                loadavg was read; ERRNO 0 for success)
//   stuck TARGET FILE DUE START                  (a read still unanswered)
//   hold FROM TO                                 (ns: all four holders were in D between these)
//   error TEXT
//   end
// A daemon that stops answering (LXCFS at 1000 containers here) thus costs its readings, not the
// report.
// bench/member.go parses and judges them.
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define MAX_TARGETS 8
#define MAX_FILES 8
#define HOLDERS 4
#define MS 1000000LL

struct reading {
	int64_t due, start, end;
	int err;
	char load1[16];
	const char *file;
};

struct target {
	char name[64];
	char tmpl[4096];
	pthread_t thread;
	struct reading *readings;
	int n;       // readings done; stored with release after each is complete
	int pending; // n+1 while reading n is under way, else 0
	int done;    // the thread has finished
};

static struct target targets[MAX_TARGETS];
static int ntargets;
static const char *files[MAX_FILES];
static int nfiles;
static int64_t phase, read_for, hold_at = -1, hold_for, warmup = 3000 * MS, grace = 10000 * MS;
static int64_t t0; // CLOCK_MONOTONIC ns of the first due time

// held[i] is when holder i entered and left D (CLOCK_MONOTONIC ns), in memory shared with the
// holders: on a saturated machine they wake seconds apart, and the load averages move as four
// only while all four are in D.
static volatile int64_t (*held)[2];

static int64_t now_ns(void) {
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static void sleep_until(int64_t t) {
	struct timespec ts = {.tv_sec = t / 1000000000LL, .tv_nsec = t % 1000000000LL};
	while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) == EINTR) {
	}
}

// read_file opens, reads to EOF and closes path, as cat does; it returns 0 or an errno, and
// the first field of what it read in load1 when want_load1 is set.
static int read_file(const char *path, char *buf, size_t size, char *load1, int want_load1) {
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return errno;
	size_t total = 0;
	int err = 0;
	for (;;) {
		ssize_t n = read(fd, buf + total, size - 1 - total);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			err = errno;
			break;
		}
		if (n == 0 || total + n == size - 1) {
			total += n;
			break;
		}
		total += n;
	}
	close(fd);
	if (!err && total == 0)
		err = ENODATA;
	if (!err && want_load1) {
		buf[total] = 0;
		size_t k = strcspn(buf, " \n");
		if (k >= 16)
			k = 15;
		memcpy(load1, buf, k);
		load1[k] = 0;
	}
	return err;
}

static void *read_target(void *arg) {
	struct target *t = arg;
	static __thread char buf[64 << 10];
	int64_t seconds = (read_for + 999999999LL) / 1000000000LL;
	t->readings = calloc((size_t)(seconds * nfiles), sizeof(struct reading));
	if (!t->readings) {
		__atomic_store_n(&t->done, 1, __ATOMIC_RELEASE);
		return NULL;
	}
	char path[4200];
	for (int64_t k = 0;; k++) {
		int64_t due = phase + k * 1000000000LL;
		if (due >= read_for)
			break;
		sleep_until(t0 + due);
		for (int i = 0; i < nfiles; i++) {
			struct reading *r = &t->readings[t->n];
			const char *s = strstr(t->tmpl, "%s");
			if (s)
				snprintf(path, sizeof path, "%.*s%s%s", (int)(s - t->tmpl), t->tmpl, files[i], s + 2);
			else
				snprintf(path, sizeof path, "%s", t->tmpl);
			r->file = files[i];
			r->due = due;
			r->start = now_ns() - t0;
			strcpy(r->load1, "-");
			__atomic_store_n(&t->pending, t->n + 1, __ATOMIC_RELEASE);
			r->err = read_file(path, buf, sizeof buf, r->load1, strcmp(files[i], "loadavg") == 0);
			r->end = now_ns() - t0;
			__atomic_store_n(&t->n, t->n + 1, __ATOMIC_RELEASE);
			__atomic_store_n(&t->pending, 0, __ATOMIC_RELEASE);
		}
	}
	__atomic_store_n(&t->done, 1, __ATOMIC_RELEASE);
	return NULL;
}

// all_done reports whether every reading thread has finished.
static int all_done(void) {
	for (int i = 0; i < ntargets; i++)
		if (!__atomic_load_n(&targets[i].done, __ATOMIC_ACQUIRE))
			return 0;
	return 1;
}

// The holder's child: it shares the holder's memory (CLONE_VM) on a stack of its own, sleeps,
// and exits, which lets the holder out of D.
static int hold_child(void *arg) {
	struct timespec ts = {.tv_sec = hold_for / 1000000000LL, .tv_nsec = hold_for % 1000000000LL};
	(void)arg;
	while (nanosleep(&ts, &ts) == -1 && errno == EINTR) {
	}
	_exit(0);
}

// start_holders forks HOLDERS processes that wait for a byte on the returned pipe, then each
// wait in D for hold_for and exit. They are forked before any file of a daemon is open: a
// process forked later would inherit the reader threads' open FUSE files, and closing them at
// its exit sends a FLUSH that LXCFS answers, synchronously, only when it gets to it (the
// holders then sat in request_wait_answer instead of D, and the agent with them).
static int start_holders(pid_t pids[HOLDERS]) {
	int p[2];
	held = mmap(NULL, sizeof(int64_t[HOLDERS][2]), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (held == MAP_FAILED || pipe2(p, O_CLOEXEC) < 0)
		return -1;
	for (int i = 0; i < HOLDERS; i++) {
		pids[i] = fork();
		if (pids[i] < 0)
			return -1;
		if (pids[i] == 0) {
			char b;
			close(p[1]);
			close(3);
			size_t size = 64 << 10;
			char *stack = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK, -1, 0);
			if (stack == MAP_FAILED)
				_exit(1);
			while (read(p[0], &b, 1) < 0 && errno == EINTR) {
			}
			held[i][0] = now_ns();
			// Returns once the child has exited: until then this process is in D.
			if (clone(hold_child, stack + size, CLONE_VFORK | CLONE_VM | SIGCHLD, NULL) < 0)
				_exit(1);
			held[i][1] = now_ns();
			_exit(0);
		}
	}
	close(p[0]);
	return p[1];
}

// hold releases the holders (a byte each on release) and returns when all are out of D, with
// the times between which all of them were in it.
static int hold(int release, pid_t pids[HOLDERS], int64_t *from, int64_t *to) {
	char go[HOLDERS] = {0};
	if (write(release, go, HOLDERS) != HOLDERS)
		return errno ? errno : EIO;
	int failed = 0;
	for (int i = 0; i < HOLDERS; i++) {
		int status;
		while (waitpid(pids[i], &status, 0) < 0 && errno == EINTR) {
		}
		failed |= !WIFEXITED(status) || WEXITSTATUS(status) != 0;
	}
	// Reap the holders' children, which this process, the namespace's init, inherited.
	while (waitpid(-1, NULL, WNOHANG) > 0) {
	}
	if (failed)
		return ECHILD;
	*from = held[0][0], *to = held[0][1];
	for (int i = 1; i < HOLDERS; i++) {
		*from = held[i][0] > *from ? held[i][0] : *from;
		*to = held[i][1] < *to ? held[i][1] : *to;
	}
	*from -= t0, *to -= t0;
	return *to > *from ? 0 : ETIME; // ETIME: never all four at once
}

static int64_t ms_arg(const char *s) { return strtoll(s, NULL, 10) * MS; }

int main(int argc, char **argv) {
	int opt;
	char *list;
	while ((opt = getopt(argc, argv, "t:f:p:r:b:d:w:g:")) != -1) {
		switch (opt) {
		case 't': {
			char *eq = strchr(optarg, '=');
			if (!eq || ntargets == MAX_TARGETS) {
				fprintf(stderr, "scale-agent: bad or too many targets: %s\n", optarg);
				return 2;
			}
			struct target *t = &targets[ntargets++];
			snprintf(t->name, sizeof t->name, "%.*s", (int)(eq - optarg), optarg);
			snprintf(t->tmpl, sizeof t->tmpl, "%s", eq + 1);
			break;
		}
		case 'f':
			list = strdup(optarg);
			for (char *f = strtok(list, ","); f && nfiles < MAX_FILES; f = strtok(NULL, ","))
				files[nfiles++] = f;
			break;
		case 'p':
			phase = ms_arg(optarg);
			break;
		case 'r':
			read_for = ms_arg(optarg);
			break;
		case 'b':
			hold_at = ms_arg(optarg);
			break;
		case 'd':
			hold_for = ms_arg(optarg);
			break;
		case 'w':
			warmup = ms_arg(optarg);
			break;
		case 'g':
			grace = ms_arg(optarg);
			break;
		default:
			fprintf(stderr, "usage: scale-agent -t NAME=TEMPLATE ... -f FILES -p PHASE_MS -r READ_FOR_MS [-b HOLD_AT_MS -d HOLD_FOR_MS] [-w WARMUP_MS] [-g GRACE_MS]\n");
			return 2;
		}
	}
	if (ntargets == 0 || nfiles == 0 || read_for <= 0) {
		fprintf(stderr, "scale-agent: -t, -f and -r are required\n");
		return 2;
	}
	for (int i = 0; i < 2; i++) {
		pid_t p = fork();
		if (p == 0) {
			for (;;)
				pause();
		}
	}
	pid_t holders[HOLDERS];
	int release = -1;
	if (hold_at >= 0 && hold_at < read_for && (release = start_holders(holders)) < 0) {
		printf("error holders: %s\n", strerror(errno));
		hold_at = -1;
	}
	char b;
	while (read(3, &b, 1) < 0 && errno == EINTR) { // the start signal: the harness closes the pipe
	}
	close(3);
	// Every container starts reading after the last one has settled: a daemon that starts a
	// container's load at its current count (procfsd, docs/behaviour.md §2.4) would otherwise start it at the
	// count of a container still starting its processes.
	t0 = now_ns() + warmup;
	for (int i = 0; i < ntargets; i++)
		pthread_create(&targets[i].thread, NULL, read_target, &targets[i]);
	int64_t from = 0, to = 0;
	int hold_err = -1;
	if (hold_at >= 0 && hold_at < read_for) {
		sleep_until(t0 + hold_at);
		hold_err = hold(release, holders, &from, &to);
	}
	// Threads blocked in a read are not joined: what they did so far is reported.
	while (!all_done() && now_ns() < t0 + read_for + grace)
		sleep_until(now_ns() + 100 * MS);
	for (int i = 0; i < ntargets; i++) {
		struct target *t = &targets[i];
		if (__atomic_load_n(&t->done, __ATOMIC_ACQUIRE) && !t->readings) {
			printf("error %s: out of memory\n", t->name);
			continue;
		}
		int n = __atomic_load_n(&t->n, __ATOMIC_ACQUIRE);
		for (int k = 0; k < n; k++) {
			struct reading *r = &t->readings[k];
			printf("read %s %s %lld %lld %lld %d %s\n", t->name, r->file, (long long)r->due,
			       (long long)r->start, (long long)r->end, r->err, r->load1);
		}
		if (__atomic_load_n(&t->pending, __ATOMIC_ACQUIRE) == n + 1) {
			struct reading *r = &t->readings[n];
			printf("stuck %s %s %lld %lld\n", t->name, r->file, (long long)r->due, (long long)r->start);
		}
	}
	if (hold_err == 0)
		printf("hold %lld %lld\n", (long long)from, (long long)to);
	else if (hold_err > 0)
		printf("error hold: %s\n", strerror(hold_err));
	printf("end\n");
	fflush(stdout);
	close(1);
	for (;;)
		pause();
}
