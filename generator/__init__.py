"""ftgen: compile fine-tuning specs into validated Axolotl and LLaMA-Factory configs."""

__version__ = "0.1.0"
