"""Code shared by test modules: imported from here (or given by a conftest fixture), never from another test file."""
