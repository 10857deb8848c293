"""ftgen's peak-memory hook, put on PYTHONPATH of the trainer process by `ftgen run` (FTGEN_MEMORY_DIR names the folder).

At interpreter exit, a process that initialised CUDA writes torch.cuda.max_memory_allocated / max_memory_reserved
of its device, with its rank, to FTGEN_MEMORY_DIR/rank-<RANK>-<pid>.json. Nothing runs during training (no thread,
no sampling, no signal handler): one atexit function that returns at once in a process without CUDA (the launcher,
data workers, CPU training). Both frameworks get it the same way because it does not depend on their callback or
plugin mechanisms. It never raises: a failure only means no figure for that rank.

Save on the time-limit signal (Slurm runs): when FTGEN_SAVE_FILE is set, every transformers Trainer gets one more
callback (appended to transformers.trainer.DEFAULT_CALLBACKS right after that module is imported). At each step end
it checks whether FTGEN_SAVE_FILE exists (slurm.sbatch's SIGUSR1 trap creates it) or this process got SIGUSR1; then
it asks the Trainer to save a checkpoint now and stop (control.should_save / should_training_stop, HF's own
mechanism), and after the save writes FTGEN_STOPPED_FILE ({"step": N}) so the batch script knows to requeue. With
several ranks, rank flags are combined (all_reduce MAX) so that every rank saves and stops at the same step. Without
FTGEN_SAVE_FILE nothing is installed.
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


class _FtgenSaveOnSignal:
    """The callback's logic, on any TrainerCallback base (mixed in once transformers is imported)."""

    _ftgen_flag = False  # set by this process's SIGUSR1 handler
    _ftgen_acted = False

    def on_train_begin(self, args, state, control, **kwargs):
        try:
            import signal
            import threading

            if threading.current_thread() is threading.main_thread():

                def _handler(signum, frame):
                    type(self)._ftgen_flag = True

                signal.signal(signal.SIGUSR1, _handler)
        except Exception:
            pass
        return control

    def _ftgen_requested(self, args) -> bool:
        flag = type(self)._ftgen_flag or os.path.exists(os.environ.get("FTGEN_SAVE_FILE") or "\0")
        try:
            import sys

            dist = getattr(sys.modules.get("torch"), "distributed", None)
            if dist is not None and dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1:
                import torch

                t = torch.tensor([1 if flag else 0], device=getattr(args, "device", None))
                dist.all_reduce(t, op=dist.ReduceOp.MAX)
                flag = bool(t.item())
        except Exception:
            pass
        return flag

    def on_step_end(self, args, state, control, **kwargs):
        if not self._ftgen_acted and self._ftgen_requested(args):
            self._ftgen_acted = True
            control.should_save = True
            control.should_training_stop = True
            print(
                f"[ftgen] stop requested (time limit near): saving a checkpoint at step {state.global_step} and "
                "stopping",
                flush=True,
            )
        return control

    def on_save(self, args, state, control, **kwargs):
        target = os.environ.get("FTGEN_STOPPED_FILE")
        if self._ftgen_acted and target and getattr(state, "is_world_process_zero", True):
            try:
                import json

                tmp = target + ".tmp"
                with open(tmp, "w", encoding="utf-8") as fh:
                    json.dump({"step": int(state.global_step)}, fh)
                os.replace(tmp, target)
            except Exception:
                pass
        return control


def _ftgen_add_save_callback(module):
    """transformers.trainer was just imported: append the callback to the callbacks every Trainer starts with."""
    try:
        from transformers.trainer_callback import TrainerCallback

        cls = type("FtgenSaveOnSignal", (_FtgenSaveOnSignal, TrainerCallback), {})
        if not any(getattr(c, "__name__", "") == "FtgenSaveOnSignal" for c in module.DEFAULT_CALLBACKS):
            module.DEFAULT_CALLBACKS.append(cls)
    except Exception:
        pass


def _ftgen_watch_trainer_import():
    if not os.environ.get("FTGEN_SAVE_FILE"):
        return
    try:
        import importlib.abc
        import importlib.machinery
        import sys

        class _Loader(importlib.abc.Loader):
            def __init__(self, inner):
                self.inner = inner

            def create_module(self, spec):
                return self.inner.create_module(spec)

            def exec_module(self, module):
                self.inner.exec_module(module)
                _ftgen_add_save_callback(module)

        class _Finder(importlib.abc.MetaPathFinder):
            def find_spec(self, name, path, target=None):
                if name != "transformers.trainer":
                    return None
                for finder in sys.meta_path:
                    if finder is self:
                        continue
                    spec = getattr(finder, "find_spec", lambda *a: None)(name, path, target)
                    if spec is not None and spec.loader is not None:
                        spec.loader = _Loader(spec.loader)
                        return spec
                return None

        sys.meta_path.insert(0, _Finder())
    except Exception:
        pass


_ftgen_watch_trainer_import()
_ftgen_chain_next_sitecustomize()
