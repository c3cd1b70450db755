"""The bus between the scheduler and the workers: task delivery, reports, heartbeats, control.

Two backends behind one interface (:class:`core.bus.base.Bus`): in-process for ``openft
serve`` (:class:`core.bus.memory.InProcessBus`) and Redis + arq for the distributed roles
(:class:`core.bus.redis.RedisBus`). The database stays the source of truth; the bus only
delivers ids and messages, and everything on it can be re-derived after a Redis restart (the
scheduler re-dispatches, workers re-register on their next heartbeat, reports a worker still
holds are sent again).
"""

from core.bus.base import Bus, BusUnavailable, Control, Task, TaskHandler

__all__ = ["Bus", "BusUnavailable", "Control", "Task", "TaskHandler"]
