"""A local-gpus worker: reads pickled tasks from stdin, one per line, and answers each with a JSON line.

Started by executors.ProcessWorker with CUDA_VISIBLE_DEVICES naming its one GPU, so CUDA start-up and
the data load are paid once per worker, not once per task. Its stdout carries answers only: file
descriptor 1 is pointed at stderr, so that whatever a library prints cannot break the protocol.
A task that fails outside training (out of GPU memory while loading the data, say) is answered as
failed, and the worker then exits: a CUDA error can leave the context unusable, and the driver starts
a fresh worker on the same GPU.
"""

from __future__ import annotations

import base64
import json
import os
import pickle
import sys
import traceback

from report_builder.errors import ReportBuilderError
from report_builder.execution.local import failed_doc
from report_builder.execution.local_gpus import ANSWER_PREFIX
from report_builder.execution.execute import execute_task

EXIT_AFTER_ERROR = 3


def main() -> int:
    answers = os.fdopen(os.dup(1), "w")
    os.dup2(2, 1)
    sys.stdout = sys.stderr

    def answer(docs: list[dict], last: bool = False) -> None:
        answers.write(ANSWER_PREFIX + json.dumps({"docs": docs, "last": last}) + "\n")
        answers.flush()

    for line in sys.stdin:
        task = pickle.loads(base64.b64decode(line))
        try:
            docs = execute_task(task)
        except ReportBuilderError as e:
            docs = [failed_doc(member, str(e)) for member in task.members]
        except Exception as e:  # anything else: say what, then make way for a fresh process
            error = "".join(traceback.format_exception_only(e)).strip()
            answer([failed_doc(member, f"worker on GPU {os.environ.get('CUDA_VISIBLE_DEVICES')}: {error}")
                    for member in task.members], last=True)
            return EXIT_AFTER_ERROR
        answer(docs)
    return 0


if __name__ == "__main__":
    sys.exit(main())
