"""The bus between the scheduler and the workers: task delivery, reports, heartbeats, control.

Two backends behind one interface (:class:`core.bus.base.Bus`): in-process for ``openft
serve`` and Redis + arq for the distributed roles. The database stays the source of truth;
the bus only delivers ids and messages, and everything on it can be re-derived after a Redis
restart (the scheduler re-dispatches, workers re-register on their next heartbeat).
"""

from core.bus.base import Bus, TaskHandler

__all__ = ["Bus", "TaskHandler"]
