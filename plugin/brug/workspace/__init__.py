"""What a partnership's workspace should contain, independent of the platform that holds it."""
