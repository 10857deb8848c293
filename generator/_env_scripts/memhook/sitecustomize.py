"""ftgen's peak-memory hook, put on PYTHONPATH of the trainer process by `ftgen run` (FTGEN_MEMORY_DIR names the folder).

At interpreter exit, a process that initialised CUDA writes torch.cuda.max_memory_allocated / max_memory_reserved
of its device, with its rank, to FTGEN_MEMORY_DIR/rank-<RANK>-<pid>.json. Nothing runs during training (no thread,
no sampling, no signal handler): one atexit function that returns at once in a process without CUDA (the launcher,
data workers, CPU training). Both frameworks get it the same way because it does not depend on their callback or
plugin mechanisms. It never raises: a failure only means no figure for that rank.
"""

import atexit
import os


def _ftgen_record_peak_memory():
    folder = os.environ.get("FTGEN_MEMORY_DIR")
    if not folder:
        return
    import sys

    torch = sys.modules.get("torch")
    if torch is None:
        return
    try:
        if not torch.cuda.is_available() or not torch.cuda.is_initialized():
            return
        import json

        device = torch.cuda.current_device()
        rank = int(os.environ.get("RANK", os.environ.get("LOCAL_RANK", "0")))
        record = {
            "rank": rank,
            "local_rank": int(os.environ.get("LOCAL_RANK", "0")),
            "pid": os.getpid(),
            "device": torch.cuda.get_device_name(device),
            "device_total": int(torch.cuda.get_device_properties(device).total_memory),
            "max_allocated": int(torch.cuda.max_memory_allocated(device)),
            "max_reserved": int(torch.cuda.max_memory_reserved(device)),
        }
        path = os.path.join(folder, f"rank-{rank}-{os.getpid()}.json")
        tmp = path + ".tmp"
        with open(tmp, "w", encoding="utf-8") as fh:
            json.dump(record, fh)
        os.replace(tmp, path)
    except Exception:
        pass


atexit.register(_ftgen_record_peak_memory)


def _ftgen_chain_next_sitecustomize():
    """This file shadows any sitecustomize the trainer's Python would have loaded: load that one too."""
    try:
        import importlib.util
        import sys

        here = os.path.dirname(os.path.abspath(__file__))
        for entry in sys.path:
            folder = os.path.abspath(entry or os.getcwd())
            candidate = os.path.join(folder, "sitecustomize.py")
            if folder == here or not os.path.isfile(candidate):
                continue
            spec = importlib.util.spec_from_file_location("_ftgen_shadowed_sitecustomize", candidate)
            module = importlib.util.module_from_spec(spec)
            spec.loader.exec_module(module)
            return
    except Exception:
        pass


_ftgen_chain_next_sitecustomize()
