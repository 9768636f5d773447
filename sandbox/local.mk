# sandbox/local.mk — coderunner-sandbox and its tests.
