"""unmirage: see through the safety mirage of vision-language model safety fine-tuning."""

__version__ = "0.1.0"
