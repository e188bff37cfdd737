"""Page processing on Celery over Redis: workers on any number of machines compute pages, the scanning
process stores them (one writer, one transaction per page, as with local worker processes).

Used when ``PHIEU_BROKER_URL`` (``redis://host:6379/0``) is set: ``phieu scan --queue`` and the web
application's scans hand their pages to :class:`QueueExecutor` instead of local worker processes.

How a page travels:

1. The scanning process has already copied the original into the shared file store (its name is its
   SHA-256). It stores the workers' context once (layouts, blank masters, settings: pickled, without
   the secret) under its SHA-256 too, and sends one small JSON task per page to the ``phieu.pages``
   queue: file, page index, context, where to answer, and a MAC over all of it.
2. A ``phieu worker`` process checks the MAC with its own copy of the workspace secret (the same
   secret that signs the printed QR codes: a worker with another secret would read every sheet as
   forged, so it refuses the task and says so), reads the page from the shared store with a
   :class:`~pipeline.worker.PageWorker` and pushes the pickled :class:`~pipeline.worker.PageResult`,
   with a MAC, onto the scanning process's own reply list in Redis.
3. The scanning process checks the MAC before unpickling and stores the page through
   ``storage.scans.record_page``, exactly as it stores a local worker's result.

Redelivery: tasks are acknowledged only after the reply is pushed (``acks_late``). A worker process
killed in the middle of a page (``kill -9``, out of memory) has its task handed back at once
(``task_reject_on_worker_lost``); a whole worker machine that dies leaves the task unacknowledged in
Redis, and another worker takes it after ``queue.visibility_timeout_seconds``. A page read twice
(redelivered, or a slow page taken again) is stored once: the scanning process takes the first reply
of each task and ``record_page`` keeps the first copy of a (file, page). A page that kills its worker
``queue.max_deliveries`` times is recorded unreadable (``worker_crashed``) instead of going round forever.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import os
import pickle
import socket
import time
import uuid
from collections import deque
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from core.errors import PhieuError, StorageError
from core.settings import Settings
from pipeline.outcome import unreadable_outcome
from pipeline.worker import PageJob, PageResult, WorkerContext
from scanner.problems import explain
from storage.files import FileStore

log = logging.getLogger(__name__)

PAGES_QUEUE = "phieu.pages"
JOBS_QUEUE = "phieu.jobs"
PAGE_TASK = "phieu.page"
JOB_TASK = "phieu.job"
REPLY_PREFIX = "phieu:replies:"
DELIVERIES_PREFIX = "phieu:deliveries:"
POLL_SECONDS = 2.0  # a blocking wait on the reply list; the stall check runs between waits
WAITING_NOTE_SECONDS = 60.0


# --- signatures ---------------------------------------------------------------------------------------


def queue_key(secret: bytes) -> bytes:
    """The key that signs tasks and results, derived from the workspace secret (never the secret itself)."""
    return hmac.new(secret, b"phieu queue v1", hashlib.sha256).digest()


def _mac(key: bytes, data: bytes) -> str:
    return hmac.new(key, data, hashlib.sha256).hexdigest()


def _canonical(fields: dict[str, Any]) -> bytes:
    return json.dumps({k: v for k, v in fields.items() if k != "mac"}, sort_keys=True, ensure_ascii=True).encode()


def sign(key: bytes, fields: dict[str, Any]) -> dict[str, Any]:
    return {**fields, "mac": _mac(key, _canonical(fields))}


def verified(key: bytes, fields: dict[str, Any]) -> bool:
    return isinstance(fields.get("mac"), str) and hmac.compare_digest(fields["mac"], _mac(key, _canonical(fields)))


# --- the Celery application ---------------------------------------------------------------------------


def celery_app(broker_url: str, settings: Settings, *, role: str = "pages") -> Any:
    """A Celery application on ``broker_url`` (Redis): ``role`` "pages" (page tasks) or "jobs" (the web
    application's scans and re-reads). Each role keeps its unacknowledged tasks apart, with its own
    visibility timeout: a page worker never hands back a job that is still running."""
    from celery import Celery

    q = settings.queue
    visibility = q.visibility_timeout_seconds if role == "pages" else q.job_visibility_timeout_seconds
    app = Celery(f"phieu-{role}", broker=broker_url, backend=broker_url, set_as_current=False)
    app.conf.update(
        task_serializer="json", result_serializer="json", accept_content=["json"],
        task_acks_late=True, task_reject_on_worker_lost=True, worker_prefetch_multiplier=1,
        task_track_started=True, result_expires=q.result_ttl_seconds, result_extended=False,
        broker_connection_retry_on_startup=True, worker_hijack_root_logger=False,
        worker_redirect_stdouts=False, worker_cancel_long_running_tasks_on_connection_loss=False,
        task_default_queue=PAGES_QUEUE if role == "pages" else JOBS_QUEUE,
        broker_transport_options={
            "visibility_timeout": visibility,
            "unacked_restore_interval": q.restore_interval_seconds,
            "unacked_restore_throttle": 1,
            "unacked_key": f"phieu.{role}.unacked",
            "unacked_index_key": f"phieu.{role}.unacked_index",
            "unacked_mutex_key": f"phieu.{role}.unacked_mutex",
        },
        result_backend_transport_options={"retry_policy": {"timeout": 5.0}},
    )
    from pipeline import queue_jobs

    app.task(name=PAGE_TASK, bind=True, ignore_result=True)(_page_task)
    app.task(name=JOB_TASK, bind=True)(queue_jobs.job_task)
    return app


def redis_client(broker_url: str) -> Any:
    import redis

    return redis.Redis.from_url(broker_url, socket_timeout=30, socket_connect_timeout=10, health_check_interval=30)


def check_broker(broker_url: str) -> Any:
    """A Redis client, once the broker answers; StorageError naming it when it does not."""
    import redis

    client = redis_client(broker_url)
    try:
        client.ping()
    except redis.RedisError as exc:
        shown = broker_url.split("@")[-1]
        raise StorageError(f"Không kết nối được hàng đợi {shown} / cannot reach the broker {shown}: {exc}. "
                           "Kiểm tra PHIEU_BROKER_URL và redis-server / check PHIEU_BROKER_URL and that redis-server runs.") from exc
    return client


# --- the worker side ------------------------------------------------------------------------------------


@dataclass
class WorkerEnvironment:
    """What a ``phieu worker`` process holds: the secret, the shared file store, its settings."""

    broker_url: str
    secret: bytes
    store: FileStore
    settings: Settings
    workers: dict[str, Any] = field(default_factory=dict)  # context sha -> PageWorker (a few, newest last)
    _redis: Any = None
    _pid: int = 0

    @property
    def redis(self) -> Any:
        if self._redis is None or self._pid != os.getpid():  # a pool process makes its own connection
            self._redis, self._pid = redis_client(self.broker_url), os.getpid()
        return self._redis

    def page_worker(self, context_sha: str) -> Any:
        from pipeline.worker import PageWorker

        if context_sha not in self.workers:
            data = self.store.read(context_sha)
            if hashlib.sha256(data).hexdigest() != context_sha:
                raise StorageError(f"ngữ cảnh {context_sha} trong kho bị hỏng / context {context_sha} damaged in the store")
            context = replace(pickle.loads(data), secret=self.secret)  # noqa: S301 - named by a signed task, checked by hash
            self.workers[context_sha] = PageWorker(context)
            while len(self.workers) > 2:
                self.workers.pop(next(iter(self.workers))).close()
        return self.workers[context_sha]


_ENV: WorkerEnvironment | None = None


def set_worker_environment(env: WorkerEnvironment) -> None:
    global _ENV
    _ENV = env


def _page_task(task: Any, message: dict[str, Any]) -> None:
    """One page: check the MAC, read the page, push the signed result to the sender's reply list."""
    env = _ENV
    assert env is not None, "phieu worker environment not set"
    key = queue_key(env.secret)
    reply_to, task_id = str(message.get("reply", "")), str(task.request.id)
    if not reply_to.startswith(REPLY_PREFIX):
        log.error("task %s without a reply list: dropped", task_id)
        return
    if not verified(key, message):
        log.error("task %s: chữ ký sai; máy này có khóa bí mật khác / bad signature: this worker's secret differs", task_id)
        _reply(env, reply_to, {"task": task_id, "error": "bad_signature", "host": socket.gethostname()})
        return
    if (task.request.delivery_info or {}).get("redelivered"):
        log.warning("%s trang %d: giao lại (tiến trình trước đã dừng) / page handed out again (its worker stopped): task %s",
                    message.get("name") or message.get("file"), int(message.get("index", 0)) + 1, task_id)
    if env.redis.exists(f"{DELIVERIES_PREFIX}{task_id}:done"):  # its reply went out before its worker died
        return
    try:
        result = _compute(env, task_id, message)
    except PhieuError as exc:  # not the page's fault (the shared folder not mounted here...): say so to the station
        log.error("task %s: %s", task_id, exc)
        _reply(env, reply_to, {"task": task_id, "error": "worker_failed", "host": socket.gethostname(), "message": str(exc)})
        return
    data = pickle.dumps(result, protocol=pickle.HIGHEST_PROTOCOL)
    _reply(env, reply_to, {"task": task_id, "data": base64.b64encode(data).decode(), "mac": _mac(key, data)})
    env.redis.set(f"{DELIVERIES_PREFIX}{task_id}:done", 1, ex=env.settings.queue.result_ttl_seconds)


def _compute(env: WorkerEnvironment, task_id: str, message: dict[str, Any]) -> PageResult:
    index, name, key = int(message["index"]), str(message.get("name") or ""), int(message["key"])
    counter = f"{DELIVERIES_PREFIX}{task_id}"
    deliveries = int(env.redis.incr(counter))
    env.redis.expire(counter, env.settings.queue.result_ttl_seconds)
    if deliveries > env.settings.queue.max_deliveries:
        shown = name or str(message["file"])
        log.error("%s trang %d: tiến trình đọc đã chết %d lần / the page killed its worker %d times",
                  shown, index + 1, deliveries - 1, deliveries - 1)
        return PageResult(key, unreadable_outcome(index, "worker_crashed", explain(shown, index, "worker_crashed")), 0.0)
    path = env.store.path(str(message["file"]))
    worker = env.page_worker(str(message["context"]))
    return worker.process(PageJob(key, path, index, name=name))  # type: ignore[no-any-return]


def _reply(env: WorkerEnvironment, reply_to: str, fields: dict[str, Any]) -> None:
    pipe = env.redis.pipeline()
    pipe.lpush(reply_to, json.dumps(fields))
    pipe.expire(reply_to, env.settings.queue.result_ttl_seconds)
    pipe.execute()


# --- the scanning side ----------------------------------------------------------------------------------


class QueueExecutor:
    """An executor (see ``pipeline.executor``) whose pages are read by ``phieu worker`` processes.

    Page jobs must name files in the shared store (``stored_files``): a worker on another machine
    opens the original by its hash there, never by the path it had on the scanning station.
    """

    stored_files = True

    def __init__(self, broker_url: str, context: WorkerContext, store: FileStore) -> None:
        self.settings = context.settings
        self.store = store
        self.redis = check_broker(broker_url)
        self.app = celery_app(broker_url, self.settings)
        self.key = queue_key(context.secret)
        shared = pickle.dumps(replace(context, secret=b""), protocol=pickle.HIGHEST_PROTOCOL)
        self.context_sha = store.put_bytes(shared, ".context")
        self.reply = f"{REPLY_PREFIX}{uuid.uuid4().hex}"
        self.window = self.settings.queue.pages_in_flight

    def run(self, jobs: Iterable[PageJob]) -> Iterator[PageResult]:
        """Results in the order of ``jobs`` (as a serial run stores them: the first copy of a sheet page is
        the one scanned first, whichever worker finishes first), at most ``pages_in_flight`` at once."""
        pending: dict[str, PageJob] = {}
        order: deque[str] = deque()
        ready: dict[str, PageResult] = {}
        for job in jobs:
            task_id = self._send(job)
            pending[task_id] = job
            order.append(task_id)
            while len(order) >= self.window:
                yield from self._next_in_order(pending, order, ready)
        while order:
            yield from self._next_in_order(pending, order, ready)

    def _next_in_order(self, pending: dict[str, PageJob], order: deque[str],
                       ready: dict[str, PageResult]) -> Iterator[PageResult]:
        while order[0] not in ready:
            ready.update(self._collect(pending))
        while order and order[0] in ready:
            yield ready.pop(order.popleft())

    def close(self) -> None:
        try:
            self.redis.delete(self.reply)
        finally:
            self.redis.close()
            self.app.close()

    def _send(self, job: PageJob) -> str:
        sha = job.path.name[:64]
        if job.page is not None or self.store.path(sha) != job.path:
            raise ValueError(f"{job.path}: a queued page must name a file in the store")
        task_id = uuid.uuid4().hex
        message = sign(self.key, {"file": sha, "index": job.index, "name": job.name, "key": job.file_key,
                                  "context": self.context_sha, "reply": self.reply, "task": task_id})
        self.app.send_task(PAGE_TASK, args=[message], task_id=task_id, queue=PAGES_QUEUE)
        return task_id

    def _collect(self, pending: dict[str, PageJob]) -> Iterator[tuple[str, PageResult]]:
        """Wait for the next reply; yields (task, result) of one pending page (a late duplicate yields nothing)."""
        started = last_note = time.monotonic()
        stall = self.settings.queue.stall_seconds
        while True:
            found = self.redis.brpop([self.reply], timeout=POLL_SECONDS)
            if found is not None:
                break
            waited = time.monotonic() - started
            if waited >= stall:
                raise StorageError(
                    f"Không có trang nào trở về từ hàng đợi sau {stall} giây ({len(pending)} trang đang chờ): "
                    "có tiến trình `phieu worker` nào đang chạy không? Các tệp chưa xong được đánh dấu; chạy "
                    f"`phieu scan --resume` khi có. / No page came back from the queue for {stall} s ({len(pending)} "
                    "waiting): is any `phieu worker` running? Unfinished files are marked; `phieu scan --resume` finishes them.")
            if time.monotonic() - last_note >= WAITING_NOTE_SECONDS:
                last_note = time.monotonic()
                log.warning("đang chờ các tiến trình đọc trang (%d trang) / waiting for queue workers (%d pages)",
                            len(pending), len(pending))
        reply = json.loads(found[1])
        job = pending.pop(str(reply.get("task", "")), None)
        if job is None:
            return  # a page read twice (redelivered): its first reply was taken
        if reply.get("error") == "bad_signature":
            raise StorageError(
                f"Máy {reply.get('host')} từ chối trang: khóa bí mật khác với máy quét. Chép secret.key của không gian "
                f"làm việc sang máy đó. / Worker {reply.get('host')} refused a page: its secret differs from this "
                "station's. Copy the workspace's secret.key to it (every worker must verify the same MACs).")
        if "error" in reply:
            raise StorageError(f"Máy {reply.get('host')} không đọc được trang / worker {reply.get('host')} could not read "
                               f"{job.shown} page {job.index + 1}: {reply.get('message')} (is the shared folder mounted there?)")
        data = base64.b64decode(reply["data"])
        if not hmac.compare_digest(str(reply.get("mac", "")), _mac(self.key, data)):
            raise StorageError("Kết quả trang có chữ ký sai / a page result carries a bad signature: refused")
        result: PageResult = pickle.loads(data)  # noqa: S301 - signed with the workspace's queue key, checked above
        if (result.file_key, result.outcome.index) != (job.file_key, job.index):
            raise StorageError(f"reply for task {reply['task']} does not match its page")
        yield str(reply["task"]), result


def run_worker(*, broker_url: str, secret: bytes, files_dir: Path, settings: Settings, concurrency: int,
               loglevel: str = "INFO", writer: Any = None) -> None:
    """Run a Celery worker in this process until it is stopped: page worker processes (prefork), or with
    ``writer`` (a ``pipeline.jobs.JobEnvironment``) the web application's jobs, in threads."""
    from celery import signals

    from pipeline import lifeline, queue_jobs
    from pipeline.worker import configure_process

    store = FileStore(files_dir)
    set_worker_environment(WorkerEnvironment(broker_url, secret, store, settings))
    check_broker(broker_url).close()
    host = f"{socket.gethostname()}-{os.getpid()}"
    if writer is not None:
        queue_jobs.set_writer_environment(writer, broker_url)
        app = celery_app(broker_url, settings, role="jobs")
        argv = ["worker", "-Q", JOBS_QUEUE, "-P", "threads", "-c", str(concurrency), "-n", f"writer@{host}"]
    else:
        main_pid = os.getpid()

        @signals.worker_process_init.connect(weak=False)
        def _child(**_kwargs: Any) -> None:  # each pool process: dies with this one, within its memory
            lifeline.die_with(main_pid)
            lifeline.limit_memory(settings.scan.worker_memory_mb)
            configure_process()

        app = celery_app(broker_url, settings, role="pages")
        argv = ["worker", "-Q", PAGES_QUEUE, "-P", "prefork", "-c", str(concurrency), "-n", f"pages@{host}"]
    app.worker_main([*argv, "-l", loglevel, "--without-gossip", "--without-mingle"])
