"""The baseline for benchmarks/function_overhead.py: a bare functions-framework
hello world, with nothing of Bookwell in it."""

import functions_framework


@functions_framework.http
def main(request):
    return "Hello, World!"
