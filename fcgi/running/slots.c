/* slots.c — run slots and the wait queue, in one shared page.
 *
 * Workers are processes, so what they must agree on lives in an anonymous
 * MAP_SHARED mapping made by the master before the first fork. A slot or a
 * queue place is owned by writing the owner's pid into it with a
 * compare-and-swap: no lock is ever held, and when a worker dies holding one
 * (kill -9 mid-request) the master frees what carries its pid. Waiters sleep
 * on a futex over a sequence number that every release bumps, and look at
 * their connection between sleeps: nginx closes it when the client gives
 * up, and a request nobody waits for must not keep a place in the queue
 * (nor take a slot later) from one somebody does.
 */
#include <errno.h>
#include <limits.h>
#include <linux/futex.h>
#include <poll.h>
#include <stdatomic.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "fcgi/fcgi.h"

struct shared {
	_Atomic pid_t run[MAX_RUN_SLOTS];
	_Atomic pid_t queue[MAX_QUEUE_SLOTS];
	_Atomic uint32_t released;	/* futex word: bumped on every release */
};

static struct shared *shm;

void slots_init(void)
{
	shm = xshared(sizeof *shm);
}

static bool take(_Atomic pid_t *arr, unsigned n, pid_t self, int *index)
{
	for (unsigned i = 0; i < n; i++) {
		pid_t expect = 0;
		if (atomic_load_explicit(&arr[i], memory_order_relaxed) == 0 &&
		    atomic_compare_exchange_strong(&arr[i], &expect, self)) {
			*index = (int)i;
			return true;
		}
	}
	return false;
}

static void wake_all(void)
{
	atomic_fetch_add(&shm->released, 1);
	syscall(SYS_futex, &shm->released, FUTEX_WAKE, INT_MAX, NULL, NULL, 0);
}

/* The longest sleep between looks at the connection. */
#define CLIENT_CHECK_MS 100

bool slots_client_gone(int fd)
{
	struct pollfd p = { fd, POLLRDHUP, 0 };
	return fd >= 0 && poll(&p, 1, 0) > 0 && (p.revents & (POLLRDHUP | POLLHUP | POLLERR));
}

enum slot_wait slots_acquire(unsigned max_runs, unsigned queue_size, unsigned timeout_ms, int client_fd,
			     struct run_progress *progress, int *slot)
{
	pid_t self = getpid();
	if (max_runs > MAX_RUN_SLOTS)
		max_runs = MAX_RUN_SLOTS;
	if (queue_size > MAX_QUEUE_SLOTS)
		queue_size = MAX_QUEUE_SLOTS;
	if (take(shm->run, max_runs, self, slot))
		return SLOT_TAKEN;

	int place;
	if (!take(shm->queue, queue_size, self, &place)) {
		metrics_rejected();
		return SLOT_QUEUE_FULL;
	}
	long long start = now_ms(), deadline = start + timeout_ms;
	enum slot_wait result = SLOT_TIMED_OUT;
	for (;;) {
		uint32_t seq = atomic_load(&shm->released);
		if (take(shm->run, max_runs, self, slot)) {
			result = SLOT_TAKEN;
			break;
		}
		if (worker_service_stopping()) {
			result = SLOT_STOPPING;
			break;
		}
		if (slots_client_gone(client_fd)) {
			result = SLOT_CLIENT_GONE;
			break;
		}
		long long left = deadline - now_ms();
		if (left <= 0)
			break;
		if (left > CLIENT_CHECK_MS)
			left = CLIENT_CHECK_MS;
		long long tick = run_progress_due(progress);
		if (tick < left)
			left = tick;
		struct timespec ts = { left / 1000, (left % 1000) * 1000000 };
		/* Sleeps only if no release happened since seq was read. */
		if (syscall(SYS_futex, &shm->released, FUTEX_WAIT, seq, &ts, NULL, 0) < 0 &&
		    errno != EAGAIN && errno != EINTR && errno != ETIMEDOUT)
			die_errno("futex wait");
	}
	atomic_store(&shm->queue[place], 0);
	metrics_queue_wait((long)(now_ms() - start));
	if (result != SLOT_TAKEN && result != SLOT_CLIENT_GONE)
		metrics_rejected();
	return result;
}

/* Waits of a worker for another's work count against queue_size as waits
 * for a slot do: each holds a worker, and the workers past max_runs +
 * queue_size must stay free for health checks. */
int slots_queue_enter(unsigned queue_size)
{
	if (queue_size > MAX_QUEUE_SLOTS)
		queue_size = MAX_QUEUE_SLOTS;
	int place;
	if (take(shm->queue, queue_size, getpid(), &place))
		return place;
	metrics_rejected();
	return -1;
}

void slots_queue_leave(int place)
{
	if (place >= 0 && place < MAX_QUEUE_SLOTS)
		atomic_store(&shm->queue[place], 0);
}

void slots_release(int slot)
{
	if (slot < 0 || slot >= MAX_RUN_SLOTS)
		return;
	atomic_store(&shm->run[slot], 0);
	wake_all();
}

/* A look before each exchange: every worker calls this once a request,
 * and a locked write to every slot would bounce the page between CPUs. */
void slots_release_pid(pid_t pid)
{
	bool any = false;
	for (unsigned i = 0; i < MAX_RUN_SLOTS; i++) {
		pid_t expect = pid;
		if (atomic_load_explicit(&shm->run[i], memory_order_relaxed) == pid)
			any |= atomic_compare_exchange_strong(&shm->run[i], &expect, 0);
	}
	for (unsigned i = 0; i < MAX_QUEUE_SLOTS; i++) {
		pid_t expect = pid;
		if (atomic_load_explicit(&shm->queue[i], memory_order_relaxed) == pid)
			atomic_compare_exchange_strong(&shm->queue[i], &expect, 0);
	}
	if (any)
		wake_all();
}

unsigned slots_running(void)
{
	unsigned n = 0;
	for (unsigned i = 0; i < MAX_RUN_SLOTS; i++)
		n += atomic_load_explicit(&shm->run[i], memory_order_relaxed) != 0;
	return n;
}

unsigned slots_waiting(void)
{
	unsigned n = 0;
	for (unsigned i = 0; i < MAX_QUEUE_SLOTS; i++)
		n += atomic_load_explicit(&shm->queue[i], memory_order_relaxed) != 0;
	return n;
}
