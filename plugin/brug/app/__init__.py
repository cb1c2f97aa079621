"""The application layer: brug's use cases, composed from the domain, the content, the planner, the
store and the platform adapters.

`service` provisions and runs; `scheduler` and `jobs` decide what is due and post it through the
outbox; `meetings` and `minutes` prepare and follow up meetings; `conversation`, `commands` and `bot`
answer the chat; `agreements`, `barometer`, `signals` and `nota` follow the agreement, the barometer
and the signals to policy; `mail` and `links` reach partners outside the chat; `export` writes what
brug keeps of a partnership; `lock` keeps one brug per state database; `demo` is `./run demo`.
"""
