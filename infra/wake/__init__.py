"""The wake-on-request Lambda function (``llmhost:wakeUrl``): ``handler.py`` is deployed as is."""
