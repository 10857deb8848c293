"""Progress parsing of both frameworks' output, and the terminal display's heartbeat off a terminal."""

from __future__ import annotations

from generator.run.progress import Progress
from generator.run.runner import ConsolePrinter


def test_llamafactory_style_lines():
    p = Progress()
    assert p.feed("Running tokenizer on dataset: 100%|##########| 400/400 [00:00<00:00, 1901.22 examples/s]")
    assert p.feed(" 40%|####      | 12/30 [00:10<00:15,  1.19it/s]")
    assert not p.feed("{'loss': 5.6912, 'grad_norm': 0.47, 'learning_rate': 0.0033, 'epoch': 0.27}")
    assert (p.step, p.total, p.loss) == (12, 30, 5.6912)


def test_axolotl_logs_numbers_as_strings_and_eval_bars_do_not_reset_the_step():
    p = Progress()
    p.feed(" 43%|####3     | 13/30 [00:08<00:20,  1.19s/it]")
    p.feed("{'eval_loss': '5.689', 'eval_runtime': '1.17', 'epoch': '0.625'}")
    p.feed("100%|##########| 3/3 [00:00<00:00,  3.98it/s]")  # the eval loop's own bar
    assert (p.step, p.total, p.eval_loss) == (13, 30, 5.689)


def test_heartbeat_off_a_terminal(capsys):
    printer = ConsolePrinter(quiet=True, heartbeat=0)
    printer(" 10%|#         | 3/30 [00:01<00:09, 3.0it/s]", True)
    printer("{'loss': 4.5}", False)
    printer(" 20%|##        | 6/30 [00:02<00:08, 3.0it/s]", True)
    printer.close()
    out = capsys.readouterr().out
    assert "[ftgen] step 6/30" in out and "loss 4.5000" in out and "{'loss'" not in out
