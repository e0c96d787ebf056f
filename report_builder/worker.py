"""A local-gpus worker: reads pickled tasks from stdin, one per line, and answers each with a JSON line.

Started by executors.ProcessWorker with CUDA_VISIBLE_DEVICES naming its one GPU, so CUDA start-up and
the data load are paid once per worker, not once per task.
"""

from __future__ import annotations

import base64
import json
import pickle
import sys

from report_builder.errors import ReportBuilderError
from report_builder.executors import failed_doc
from report_builder.tasks import execute_task


def main() -> int:
    # Training never prints, but keep stdout for answers only, whatever a library might write.
    answers, sys.stdout = sys.stdout, sys.stderr
    for line in sys.stdin:
        task = pickle.loads(base64.b64decode(line))
        try:
            docs = execute_task(task)
        except ReportBuilderError as e:
            docs = [failed_doc(member, str(e)) for member in task.members]
        answers.write(json.dumps(docs) + "\n")
        answers.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
