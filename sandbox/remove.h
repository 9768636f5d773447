/* remove.h — removing a tree a run left, never following its links: the
 * work directory (coderunner-fcgi) and the output/ a run's output replaces
 * (coderunner-sandbox). */
#ifndef CODERUNNER_REMOVE_H
#define CODERUNNER_REMOVE_H

/* Removes name, relative to the directory fd parent (or AT_FDCWD), and all
 * below it: 0, or -1 with errno. Nothing there is 0. */
int remove_tree_at(int parent, const char *name);

#endif
