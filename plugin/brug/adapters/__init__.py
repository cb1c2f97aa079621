"""Platform adapters: thin translations between brug's ports and a platform's API."""
