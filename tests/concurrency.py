"""Races on purpose: run the same work in several threads released together, each with its own
app context (so its own session and database connection), as parallel requests would."""
import threading

from mcrm.extensions import db


def run_together(app, work, threads: int) -> list:
    """``work(n)`` in ``threads`` threads started at once; returns their results in order. Each
    thread's work commits or rolls back its own transaction; an error in a thread is raised here
    (an assertion inside a thread would be lost)."""
    db.session.remove()
    start = threading.Barrier(threads)
    results, failures = [None] * threads, []

    def run(n):
        with app.app_context():
            try:
                start.wait(timeout=30)
                results[n] = work(n)
            except Exception as error:  # noqa: BLE001  surfaced below
                failures.append(error)
            finally:
                db.session.remove()

    workers = [threading.Thread(target=run, args=(n,)) for n in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=60)
    assert not failures, failures
    assert not any(worker.is_alive() for worker in workers)
    return results
