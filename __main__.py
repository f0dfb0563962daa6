"""llm-d-pd: prefill/decode disaggregated LLM serving on Kubernetes. See README.md."""

from components.program import main

main()
